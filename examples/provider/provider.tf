terraform {
  required_providers {
    lab = {
      source  = "labrm/lab"
      version = "~> 0.1"
    }
  }
}

# Every setting can come from the environment instead:
# LAB_ENDPOINT, LAB_TOKEN, LAB_INSECURE, LAB_CA_CERT_FILE.
provider "lab" {
  endpoint = "https://labs.example.edu"
  token    = var.lab_token

  # For a labd behind a private CA:
  # ca_cert_file = "/etc/ssl/private-ca.pem"
}

variable "lab_token" {
  type      = string
  sensitive = true
}

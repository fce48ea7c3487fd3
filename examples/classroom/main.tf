# One lab per student, for a whole class: `terraform apply` returns when
# every lab is RUNNING and prints where each student finds theirs;
# `terraform destroy` returns when every lab and its container are gone.

terraform {
  required_providers {
    lab = {
      source  = "labrm/lab"
      version = "~> 0.1"
    }
  }
}

provider "lab" {
  endpoint = var.endpoint
}

resource "lab_instance_request" "lab" {
  for_each = { for s in var.students : s.name => s }

  name             = "${var.course}-${each.key}"
  lab_template     = var.image
  student_email    = each.value.email
  duration_minutes = var.duration_minutes

  environment = {
    LAB_STUDENT = each.key
    LAB_COURSE  = var.course
  }

  resource_limits = {
    cpu    = var.cpu
    memory = var.memory
  }

  labels = {
    course = var.course
  }
}

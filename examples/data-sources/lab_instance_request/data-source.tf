# Read a lab created elsewhere (by another workspace, or with curl).
data "lab_instance_request" "alice" {
  name      = "python-basics-alice"
  namespace = "default"
}

output "alice_lab" {
  value = {
    phase      = data.lab_instance_request.alice.phase
    access_url = data.lab_instance_request.alice.access_url
  }
}

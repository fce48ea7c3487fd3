# A lab that runs as soon as labd can start it: `terraform apply` returns
# once it is RUNNING, with its access_url and container_id known.
resource "lab_instance_request" "python" {
  name             = "python-basics-alice"
  lab_template     = "python:3.9-alpine"
  student_email    = "alice@university.edu"
  duration_minutes = 90

  environment = {
    LAB_TYPE = "python-basics"
  }

  resource_limits = {
    cpu    = "0.5"
    memory = "512Mi"
  }

  labels = {
    course = "cs101"
  }

  timeouts {
    create = "15m"
  }
}

# A lab scheduled for next week's session: waiting for RUNNING would only
# time out, so apply returns once labd has accepted it.
resource "lab_instance_request" "exam" {
  name                 = "exam-bob"
  lab_template         = "python:3.9-alpine"
  student_email        = "bob@university.edu"
  duration_minutes     = 120
  scheduled_start_time = "2030-06-02T09:00:00Z"
  wait_for             = "PENDING"
}

output "python_lab_url" {
  value = lab_instance_request.python.access_url
}

# A lab that runs as soon as labd can start it: `terraform apply` returns
# once it is RUNNING (its app answering), with its access_url, access_token
# and container_id known.
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

# An image that needs to be told what to run: labd starts its app with an
# explicit command and arguments, forwards students to its port, and counts
# the lab RUNNING once the readiness path answers. The student's files live
# in a workspace kept across labs; labd reserves a small guarantee
# (resource_requests) under the limits, and ends the lab after 30 idle
# minutes, a setting that can change without replacing the lab.
resource "lab_instance_request" "notebook" {
  name             = "notebook-alice"
  lab_template     = "python:3.9-alpine"
  student_email    = "alice@university.edu"
  duration_minutes = 120

  command        = ["python", "-m", "http.server"]
  args           = ["8888", "--directory", "/home/student"]
  port           = 8888
  readiness_path = "/"

  workspace = {
    mount_path = "/home/student"
  }

  resource_limits = {
    cpu    = "1"
    memory = "1Gi"
  }
  resource_requests = {
    cpu    = "250m"
    memory = "256Mi"
  }

  idle_timeout_minutes = 30

  security_context = {
    run_as_user               = 1000
    read_only_root_filesystem = true
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

# What the student opens once: the URL with the lab's access token.
output "python_lab_link" {
  value     = "${lab_instance_request.python.access_url}?token=${lab_instance_request.python.access_token}"
  sensitive = true
}

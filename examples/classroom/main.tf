# One lab per student, for a whole class: `terraform apply` returns when
# every lab is RUNNING and prints where each student finds theirs;
# `terraform destroy` returns when every lab and its container are gone.
# Each lab is guaranteed a small share of the host (resource_requests, what
# labd reserves when it admits the lab) and may use up to its limits, so a
# whole class fits on one machine; each student's files live in a
# workspace that the next lab of the course finds again.

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

  resource_requests = {
    cpu    = var.request_cpu
    memory = var.request_memory
  }

  # The student's workspace in this course's namespace: created by their
  # first lab, mounted by every later one, kept when labs end.
  workspace = {
    mount_path = var.workspace_path
  }

  labels = {
    course = var.course
  }
}

data "lab_workspaces" "class" {
  namespace  = "default"
  depends_on = [lab_instance_request.lab]
}

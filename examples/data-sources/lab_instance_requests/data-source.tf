# Every running lab of a course.
data "lab_instance_requests" "cs101_running" {
  namespace = "default"
  phase     = "RUNNING"
  labels = {
    course = "cs101"
  }
}

output "cs101_lab_urls" {
  value = { for lab in data.lab_instance_requests.cs101_running.items : lab.id => lab.access_url }
}

output "access_urls" {
  description = "Where each student reaches their lab."
  value       = { for name, lab in lab_instance_request.lab : name => lab.access_url }
}

output "container_ids" {
  description = "The Docker container of each student's lab."
  value       = { for name, lab in lab_instance_request.lab : name => lab.container_id }
}

output "workspaces" {
  description = "Each student's workspace and the labs that hold it."
  value       = { for ws in data.lab_workspaces.class.items : ws.student_email => ws.labs }
}

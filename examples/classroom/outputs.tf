output "access_urls" {
  description = "Where each student reaches their lab (labd's gateway), once it runs."
  value       = { for name, lab in lab_instance_request.lab : name => lab.access_url }
}

output "access_links" {
  description = "What to send each student: their lab's URL with its access token. Opened once, the gateway keeps the token in a cookie of that lab. Read with: terraform output -json access_links"
  value       = { for name, lab in lab_instance_request.lab : name => "${lab.access_url}?token=${lab.access_token}" }
  sensitive   = true
}

output "access_tokens" {
  description = "Each lab's access token alone. Read with: terraform output -json access_tokens"
  value       = { for name, lab in lab_instance_request.lab : name => lab.access_token }
  sensitive   = true
}

output "container_ids" {
  description = "The Docker container of each student's lab."
  value       = { for name, lab in lab_instance_request.lab : name => lab.container_id }
}

output "workspaces" {
  description = "Each student's workspace and the labs that hold it."
  value       = { for ws in data.lab_workspaces.class.items : ws.student_email => ws.labs }
}

output "access_urls" {
  description = "Where each student reaches their lab."
  value       = { for name, lab in lab_instance_request.lab : name => lab.access_url }
}

output "container_ids" {
  description = "The Docker container of each student's lab."
  value       = { for name, lab in lab_instance_request.lab : name => lab.container_id }
}

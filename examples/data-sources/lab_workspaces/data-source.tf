# The workspaces of a course's students, and which labs hold them.
data "lab_workspaces" "cs101" {
  namespace = "cs101"
}

output "cs101_workspaces" {
  value = { for ws in data.lab_workspaces.cs101.items : ws.student_email => ws.labs }
}

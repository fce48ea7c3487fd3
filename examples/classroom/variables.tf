variable "endpoint" {
  description = "labd's API. `make run` starts one on http://localhost:8000."
  type        = string
  default     = "http://localhost:8000"
}

variable "image" {
  description = "Container image every lab runs. labrm/busybox:test is built locally by `make services` (no registry needed); in a real class, e.g. python:3.9-alpine."
  type        = string
  default     = "labrm/busybox:test"
}

variable "course" {
  description = "Course code: a prefix of the lab names and the value of their `course` label."
  type        = string
  default     = "cs101"
}

variable "students" {
  description = "The class: one lab per student. name becomes part of the lab's name (lower-case letters, digits and '-')."
  type = list(object({
    name  = string
    email = string
  }))
  default = [
    { name = "alice", email = "alice@university.edu" },
    { name = "bob", email = "bob@university.edu" },
    { name = "carol", email = "carol@university.edu" },
  ]
}

variable "duration_minutes" {
  description = "How long each lab runs, 1 to 480 minutes."
  type        = number
  default     = 60
}

variable "cpu" {
  description = "CPU limit of each lab container, in cores: what it may use at most."
  type        = string
  default     = "0.5"
}

variable "memory" {
  description = "Memory limit of each lab container."
  type        = string
  default     = "256Mi"
}

variable "request_cpu" {
  description = "CPU each lab is guaranteed: what labd reserves against the host's capacity when it admits the lab. At most cpu."
  type        = string
  default     = "50m"
}

variable "request_memory" {
  description = "Memory each lab is guaranteed. At most memory."
  type        = string
  default     = "64Mi"
}

variable "workspace_path" {
  description = "Where each student's persistent workspace is mounted in their lab."
  type        = string
  default     = "/home/student"
}

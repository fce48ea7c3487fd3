# A lab is imported by namespace/name ...
terraform import lab_instance_request.python default/python-basics-alice

# ... or by name alone, in the default namespace.
terraform import lab_instance_request.python python-basics-alice

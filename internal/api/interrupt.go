package api

// ConditionInterrupted is True once the engine interrupted a RUNNING lab
// (it restarted and stopped the lab's workload) and the controller
// started the workload again; its reason says what interrupted it and
// its message when and how the lab resumed. It stays to tell the lab's
// owner that the run was not in one piece; each interruption is also an
// event in the lab's history.
const ConditionInterrupted = "Interrupted"

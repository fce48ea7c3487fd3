package reconcile

import (
	"fmt"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/server/images"
	"github.com/labrm/terraform-provider-lab/server/workload"
)

// refusal is why admission fails a lab that can never run here.
type refusal struct{ reason, message string }

// refuse checks what no amount of waiting changes, before capacity is
// considered: a lab whose limits exceed the largest workload the engine
// can ever run (largest; zero fields are not known and not checked), or
// whose image the installation does not allow. Pure.
func refuse(lab *api.LabInstanceRequest, largest workload.Resources, policy *images.Policy) *refusal {
	if err := policy.Check(lab.Spec.LabTemplate); err != nil {
		return &refusal{"ImageNotAllowed", err.Error()}
	}
	need := limits(lab)
	if (largest.MilliCPU > 0 && need.MilliCPU > largest.MilliCPU) || (largest.MemoryBytes > 0 && need.MemoryBytes > largest.MemoryBytes) {
		return &refusal{"TooLargeForEngine", fmt.Sprintf(
			"the lab's limits (%s) exceed the largest workload the engine can ever run (%s): lower spec.resource_limits", need, largest)}
	}
	return nil
}

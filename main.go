// Command terraform-provider-lab is the Terraform provider for labd's lab
// instances, served as registry.terraform.io/labrm/lab (protocol 6).
package main

import (
	"context"
	"flag"
	"log"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"

	"github.com/labrm/terraform-provider-lab/provider"
)

// version is stamped at build time: go build -ldflags "-X main.version=1.2.3".
var version = "dev"

func main() {
	var debug bool
	flag.BoolVar(&debug, "debug", false, "run the provider with support for debuggers like delve (prints TF_REATTACH_PROVIDERS to use)")
	flag.Parse()

	err := providerserver.Serve(context.Background(), provider.New(version), providerserver.ServeOpts{
		Address: "registry.terraform.io/labrm/lab",
		Debug:   debug,
	})
	if err != nil {
		log.Fatal(err.Error())
	}
}

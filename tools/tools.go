//go:build generate

// Package tools pins the tools that generate the provider's documentation,
// as HashiCorp's provider scaffolding does. It is a module of its own so
// that the provider's go.mod does not carry the tools' dependencies.
//
// `cd tools && go generate ./...` (make docs) renders docs/ from
// templates/, examples/ and the provider's schema, then validates them. It
// runs offline: tfplugindocs builds the provider, installs it into a plugin
// directory and asks the local terraform for the schema; tfplugindocs.sh
// makes sure it finds one instead of downloading it.
package tools

import (
	_ "github.com/hashicorp/terraform-plugin-docs/cmd/tfplugindocs"
)

//go:generate sh tfplugindocs.sh generate --provider-dir .. --provider-name lab --rendered-provider-name Lab
//go:generate sh tfplugindocs.sh validate --provider-dir .. --provider-name lab

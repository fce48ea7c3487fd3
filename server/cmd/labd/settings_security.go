package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/server/images"
)

// securitySettings restrict what labs may run and how (server/images,
// server/docker's hardening profile).
var securitySettings = []setting{
	{
		Flag: "allowed-images", Env: "LAB_ALLOWED_IMAGES", Default: "",
		Usage:      `image patterns labs may use, comma-separated, like "registry.example.edu/labs/*,python:*" ('*' does not cross '/'; "" = any image); repeatable`,
		repeatable: true,
		apply: func(c *Config, v string) error {
			var patterns []string
			for _, p := range strings.Split(v, ",") {
				if p = strings.TrimSpace(p); p != "" {
					patterns = append(patterns, p)
				}
			}
			if _, err := images.ParsePolicy(patterns); err != nil {
				return err
			}
			c.AllowedImages = patterns
			return nil
		},
	},
	{
		Flag: "lab-run-as-user", Env: "LAB_RUN_AS_USER", Default: "",
		Usage: `numeric user id labs run as when their security_context names none ("" = the image's user)`,
		apply: func(c *Config, v string) error {
			if v == "" {
				c.LabRunAsUser = nil
				return nil
			}
			uid, err := strconv.ParseInt(v, 10, 64)
			if err == nil {
				err = api.ValidateRunAsUser(uid)
			}
			if err != nil {
				return fmt.Errorf("must be a user id between 0 and %d", api.MaxRunAsUser)
			}
			c.LabRunAsUser = &uid
			return nil
		},
	},
	{
		Flag: "lab-read-only-root-filesystem", Env: "LAB_READ_ONLY_ROOT_FILESYSTEM", Default: "false",
		Usage: "make every lab's image file system read-only (/tmp and the workspace stay writable), whatever its security_context says",
		apply: func(c *Config, v string) error {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("must be true or false")
			}
			c.LabReadOnlyRootFilesystem = b
			return nil
		},
	},
}

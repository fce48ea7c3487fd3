package main

import (
	"github.com/labrm/terraform-provider-lab/server/eventsink"
)

// eventSettings configure CloudEvents delivery (server/eventsink).
var eventSettings = []setting{
	{
		Flag: "cloudevents-sink", Env: "LAB_CLOUDEVENTS_SINKS", Default: "",
		Usage:      "HTTP(S) URL every change event is POSTed to as a CloudEvent, at least once and in order; the environment variable takes several, comma-separated",
		repeatable: true,
		apply: func(c *Config, v string) error {
			sinks := eventsink.ParseSinks(v)
			if err := eventsink.ValidateSinks(sinks); err != nil {
				return err
			}
			c.CloudEventsSinks = sinks
			return nil
		},
	},
}

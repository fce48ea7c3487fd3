package eventsink_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/labrm/terraform-provider-lab/server/eventsink"
)

func TestConfigRejectsBadSinks(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		sinks []string
		want  string
	}{
		{[]string{""}, "cloudevents sink 1 is empty"},
		{[]string{"http://ok.example.com/x", "ftp://files.example.com/in"}, `cloudevents sink 2 "ftp://files.example.com/in" has scheme "ftp": only http and https`},
		{[]string{"/relative/path"}, `"/relative/path" is not absolute`},
		{[]string{"events.example.com/hook"}, "is not absolute"},
		{[]string{"mailto:ops@example.com"}, `has scheme "mailto"`},
		{[]string{"http://"}, "has no host"},
		{[]string{"https://user:topsecret@/hook"}, "has no host"},
		{[]string{"http://[::1/x?token=topsecret"}, "cloudevents sink 1 is not a URL"},
		{[]string{"http://example.com/x#frag"}, "has a fragment"},
		{[]string{"http://a.example.com/x", "https://user:topsecret@A.example.com/x?k=v"}, "cloudevents sinks 1 and 2 both post to a.example.com/x"},
	} {
		_, err := eventsink.New(nil, eventsink.Config{Sinks: tc.sinks})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("sinks %q: error %v, want it to contain %q", tc.sinks, err, tc.want)
			continue
		}
		if strings.Contains(err.Error(), "topsecret") {
			t.Errorf("sinks %q: error shows credentials: %v", tc.sinks, err)
		}
		if verr := eventsink.ValidateSinks(tc.sinks); verr == nil || verr.Error() != err.Error() {
			t.Errorf("ValidateSinks(%q) = %v, want %v", tc.sinks, verr, err)
		}
	}
	if _, err := eventsink.New(nil, eventsink.Config{BatchSize: -1}); err == nil {
		t.Error("negative batch size accepted")
	}
}

func TestBookmarkNamesAndDisplay(t *testing.T) {
	t.Parallel()
	d, err := eventsink.New(nil, eventsink.Config{Sinks: []string{"https://user:topsecret@Hooks.Example.com/in?token=topsecret"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Bookmarks(); !slices.Equal(got, []string{"cloudevents"}) {
		t.Errorf("one sink: bookmarks %v", got)
	}
	if st := d.Status(); len(st) != 1 || st[0].Sink != "https://hooks.example.com/in" || st[0].Bookmark != "cloudevents" {
		t.Errorf("status %+v", st)
	}

	d, err = eventsink.New(nil, eventsink.Config{Sinks: []string{"http://a.example.com", "https://b.example.com:8443/x/y/"}})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"cloudevents", "cloudevents:a.example.com/", "cloudevents:b.example.com:8443/x/y/"}
	if got := d.Bookmarks(); !slices.Equal(got, want) {
		t.Errorf("two sinks: bookmarks %v, want %v", got, want)
	}

	d, err = eventsink.New(nil, eventsink.Config{})
	if err != nil || len(d.Bookmarks()) != 0 {
		t.Errorf("no sinks: %v, %v", d, err)
	}
}

func TestParseSinks(t *testing.T) {
	t.Parallel()
	got := eventsink.ParseSinks(" https://a/x, ,http://b/y ,")
	if want := []string{"https://a/x", "http://b/y"}; !slices.Equal(got, want) {
		t.Errorf("ParseSinks = %q, want %q", got, want)
	}
	if got := eventsink.ParseSinks(""); len(got) != 0 {
		t.Errorf("ParseSinks(\"\") = %q", got)
	}
}

package httpapi_test

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"

	"github.com/labrm/terraform-provider-lab/internal/api"
)

func TestListFiltersAndPages(t *testing.T) {
	t.Parallel()
	eachEnv(t, func(t *testing.T, e *env) {
		// 45 labs in three namespaces, two students, labels by parity.
		want := map[string]bool{}
		for i := range 45 {
			ns := []string{"default", "course-a", "course-b"}[i%3]
			name := fmt.Sprintf("lab-%02d", i)
			parity := []string{"even", "odd"}[i%2]
			email := []string{"ann@university.edu", "bob@university.edu"}[i%2]
			e.do("POST", "/api/lab-instances/?namespace="+ns, flatBody(name, func(m map[string]any) {
				delete(m, "namespace")
				m["student_email"] = email
				m["labels"] = map[string]any{"parity": parity, "ns": ns}
			})).want(t, http.StatusCreated)
			want[ns+"/"+name] = true
		}

		// Every lab exactly once across pages of 7, in a stable order.
		seen := map[string]bool{}
		next, pages := "", 0
		for {
			q := "/api/lab-instances/?limit=7"
			if next != "" {
				q += "&continue=" + url.QueryEscape(next)
			}
			list := e.do("GET", q, "").want(t, http.StatusOK).list(t)
			pages++
			if len(list.Items) > 7 {
				t.Fatalf("page of %d items with limit 7", len(list.Items))
			}
			for _, l := range list.Items {
				k := l.Key().String()
				if seen[k] {
					t.Fatalf("%s on two pages", k)
				}
				seen[k] = true
			}
			if next = list.Metadata.Continue; next == "" {
				break
			}
			if pages > 20 {
				t.Fatal("pagination does not end")
			}
		}
		if len(seen) != len(want) || pages != 7 {
			t.Fatalf("%d labs in %d pages, want %d in 7", len(seen), pages, len(want))
		}

		count := func(query string) int {
			t.Helper()
			return len(e.do("GET", "/api/lab-instances/?"+query, "").want(t, http.StatusOK).list(t).Items)
		}
		cases := []struct {
			query string
			want  int
		}{
			{"namespace=course-a", 15},
			{"namespace=nowhere", 0},
			{"student_email=ann@university.edu", 23},
			{"student_email=ann@university.edu&namespace=default", 8},
			{"label_selector=parity%3Dodd", 22},
			{"label_selector=parity%3Dodd,ns%3Dcourse-b", 7},
			{"label_selector=parity%3Dnone", 0},
			{"phase=Pending", 45},
			{"phase=RUNNING", 0},
			{"phase=pending&namespace=course-b&label_selector=parity%3Deven", 8},
		}
		for _, tc := range cases {
			if got := count(tc.query); got != tc.want {
				t.Errorf("?%s: %d labs, want %d", tc.query, got, tc.want)
			}
		}

		// Filters and paging combine.
		first := e.do("GET", "/api/lab-instances/?namespace=course-a&limit=10", "").want(t, http.StatusOK).list(t)
		if len(first.Items) != 10 || first.Metadata.Continue == "" {
			t.Fatalf("first filtered page: %d items, continue %q", len(first.Items), first.Metadata.Continue)
		}
		second := e.do("GET", "/api/lab-instances/?namespace=course-a&limit=10&continue="+url.QueryEscape(first.Metadata.Continue), "").want(t, http.StatusOK).list(t)
		if len(second.Items) != 5 || second.Metadata.Continue != "" {
			t.Fatalf("second filtered page: %d items, continue %q", len(second.Items), second.Metadata.Continue)
		}

		bad := []struct{ query, field string }{
			{"phase=SLEEPING", "phase"},
			{"limit=-1", "limit"},
			{"limit=ten", "limit"},
			{"namespace=Not_Valid", "namespace"},
			{"label_selector=novalue", "label_selector"},
			{"continue=garbage", "continue"},
			{"watch=maybe", "watch"},
		}
		for _, tc := range bad {
			p := e.do("GET", "/api/lab-instances/?"+tc.query, "").problem(t, http.StatusBadRequest, api.EBADREQUEST)
			if !hasField(p, tc.field) {
				t.Errorf("?%s: problem does not name %q: %+v", tc.query, tc.field, p)
			}
		}
	})
}

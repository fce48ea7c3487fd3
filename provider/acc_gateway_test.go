package provider

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
)

// checkOpensThroughGateway opens the lab as its student would, from what
// Terraform holds: access_url with ?token=access_token once, then the
// cookie alone; the page must hold want. Without the token: 401.
func checkOpensThroughGateway(want string) resource.TestCheckFunc {
	return func(s *terraform.State) error {
		rs, ok := s.RootModule().Resources[addr]
		if !ok {
			return fmt.Errorf("%s not in state", addr)
		}
		url, token := rs.Primary.Attributes["access_url"], rs.Primary.Attributes["access_token"]
		if url == "" || token == "" {
			return fmt.Errorf("access_url %q, access_token set %v", url, token != "")
		}
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar, Timeout: 30 * time.Second}
		get := func(u string, c *http.Client) (int, string, error) {
			resp, err := c.Get(u)
			if err != nil {
				return 0, "", err
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			return resp.StatusCode, string(b), err
		}
		for _, u := range []string{url + "?token=" + token, url} {
			code, body, err := get(u, c)
			if err != nil || code != http.StatusOK || !strings.Contains(body, want) {
				return fmt.Errorf("GET %s (token hidden): %d, %v, %.200s", strings.ReplaceAll(u, token, "…"), code, err, body)
			}
		}
		if code, _, err := get(url, &http.Client{Timeout: 30 * time.Second}); err != nil || code != http.StatusUnauthorized {
			return fmt.Errorf("GET %s without the token: %d, %v; want 401", url, code, err)
		}
		return nil
	}
}

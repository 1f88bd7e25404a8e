// Renders a CNI config template as containerd 1.6's CRI plugin does on UpdateRuntimeConfig
// (pkg/cri/server/update_runtime_config.go): Go's text/template with no extra functions, fed
// .PodCIDR (the first subnet), .PodCIDRRanges (kubelet's comma-separated value, split and trimmed)
// and .Routes (a default route per family present, IPv4 first). Written for these tests.
//
// Usage: render <template file> <pod CIDRs as kubelet sends them>
package main

import (
	"fmt"
	"net"
	"os"
	"strings"
	"text/template"
)

type values struct {
	PodCIDR       string
	PodCIDRRanges []string
	Routes        []string
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: render <template> <pod cidrs>")
		os.Exit(2)
	}
	ranges := strings.Split(os.Args[2], ",")
	hasV4, hasV6 := false, false
	for i, r := range ranges {
		ranges[i] = strings.TrimSpace(r)
		_, n, err := net.ParseCIDR(ranges[i])
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		if n.IP.To4() != nil {
			hasV4 = true
		} else {
			hasV6 = true
		}
	}
	var routes []string
	if hasV4 {
		routes = append(routes, "0.0.0.0/0")
	}
	if hasV6 {
		routes = append(routes, "::/0")
	}
	t, err := template.ParseFiles(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := t.Execute(os.Stdout, values{PodCIDR: ranges[0], PodCIDRRanges: ranges, Routes: routes}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

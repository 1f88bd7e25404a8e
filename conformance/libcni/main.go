// libcni-driver: a small cnitool-like client built against Debian's libcni sources
// (golang-github-appc-cni-dev, GOPATH mode, offline). It exists so our plugins are exercised by
// the real runtime library: conflist parsing, prevResult threading, the result cache that CHECK
// and DEL read, version conversion of results.
//
//	libcni-driver [flags] add|check|del|gc|status|cached NETWORK [NETNS]
//
// Flags: -conf-dir DIR (conflists, as NETCONFPATH), -path DIR[:DIR] (CNI_PATH), -cache-dir DIR
// (libcni result cache, never the system one), -container ID (default: derived from NETNS like
// cnitool), -ifname NAME, -args "K=V;..." (CNI_ARGS), -cap-args JSON (capability args),
// -valid "cid/ifname,..." (GC; default: every attachment of NETWORK in the cache),
// -gc-version V (GC/STATUS cniVersion override, see below).
//
// Debian bookworm packages libcni 1.1.2, which predates GC and STATUS (libcni 1.2, spec 1.1.0)
// and cannot decode 1.1.0 results. gc and status are therefore implemented here the way libcni
// 1.2's GCNetworkList / GetStatusNetworkList do it, using this libcni's invoke package: every
// plugin of the list in order, config = plugin conf + name + cniVersion (+ the valid attachments
// for GC), errors collected (GC) or first error returned (STATUS).
package main

import (
	"context"
	"crypto/sha512"
	"encoding/json"
	"flag"
	"fmt"
	"io/ioutil"
	"os"
	"path/filepath"
	"strings"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/types"
)

type attachment struct {
	ContainerID string `json:"containerID"`
	IfName      string `json:"ifname"`
}

func main() {
	confDir := flag.String("conf-dir", os.Getenv("NETCONFPATH"), "directory holding .conflist files")
	cniPath := flag.String("path", os.Getenv("CNI_PATH"), "plugin search path (CNI_PATH)")
	cacheDir := flag.String("cache-dir", "", "libcni cache directory (required: never the system default)")
	containerID := flag.String("container", "", "container ID (default: sha512 of NETNS, as cnitool)")
	ifName := flag.String("ifname", "eth0", "interface name")
	cniArgs := flag.String("args", "", "CNI_ARGS")
	capArgs := flag.String("cap-args", "", "capability args as JSON")
	valid := flag.String("valid", "-", "GC: comma-separated containerID/ifname attachments still valid ('-': from the cache)")
	gcVersion := flag.String("gc-version", "", "GC/STATUS: send this cniVersion instead of the list's")
	flag.Parse()

	if flag.NArg() < 2 || *confDir == "" || *cniPath == "" || *cacheDir == "" {
		fmt.Fprintln(os.Stderr, "usage: libcni-driver -conf-dir DIR -path DIR -cache-dir DIR add|check|del|gc|status|cached NETWORK [NETNS]")
		os.Exit(2)
	}
	cmd, netName := flag.Arg(0), flag.Arg(1)
	netns := flag.Arg(2)

	list, err := libcni.LoadConfList(*confDir, netName)
	exitOn(err)
	paths := filepath.SplitList(*cniPath)
	cni := libcni.NewCNIConfigWithCacheDir(paths, *cacheDir, nil)
	ctx := context.Background()

	rt := &libcni.RuntimeConf{ContainerID: *containerID, NetNS: netns, IfName: *ifName}
	if rt.ContainerID == "" {
		rt.ContainerID = fmt.Sprintf("%x", sha512.Sum512([]byte(netns)))[:64]
	}
	if *cniArgs != "" {
		for _, kv := range strings.Split(*cniArgs, ";") {
			if p := strings.SplitN(kv, "=", 2); len(p) == 2 {
				rt.Args = append(rt.Args, [2]string{p[0], p[1]})
			}
		}
	}
	if *capArgs != "" {
		exitOn(json.Unmarshal([]byte(*capArgs), &rt.CapabilityArgs))
	}

	switch cmd {
	case "add":
		res, err := cni.AddNetworkList(ctx, list, rt)
		exitOn(err)
		exitOn(res.Print())
	case "check":
		exitOn(cni.CheckNetworkList(ctx, list, rt))
	case "del":
		exitOn(cni.DelNetworkList(ctx, list, rt))
	case "cached":
		res, err := cni.GetNetworkListCachedResult(list, rt)
		exitOn(err)
		if res == nil {
			fmt.Println("null")
			return
		}
		exitOn(res.Print())
	case "gc":
		atts := parseValid(*valid, *cacheDir, netName)
		exitOn(gcList(ctx, list, paths, atts, *gcVersion))
	case "status":
		exitOn(statusList(ctx, list, paths, *gcVersion))
	default:
		exitOn(fmt.Errorf("unknown command %q", cmd))
	}
}

// pluginConfig derives one plugin's request config (spec §3) for GC/STATUS: no prevResult,
// no runtimeConfig.
func pluginConfig(list *libcni.NetworkConfigList, p *libcni.NetworkConfig, version string, extra map[string]interface{}) ([]byte, error) {
	var conf map[string]interface{}
	if err := json.Unmarshal(p.Bytes, &conf); err != nil {
		return nil, err
	}
	conf["name"] = list.Name
	conf["cniVersion"] = version
	delete(conf, "capabilities")
	for k, v := range extra {
		conf[k] = v
	}
	return json.Marshal(conf)
}

func gcList(ctx context.Context, list *libcni.NetworkConfigList, paths []string, atts []attachment, version string) error {
	if version == "" {
		version = list.CNIVersion
	}
	var errs []string
	for _, p := range list.Plugins {
		conf, err := pluginConfig(list, p, version, map[string]interface{}{"cni.dev/valid-attachments": atts})
		if err == nil {
			err = execNoResult(ctx, "GC", p.Network.Type, conf, paths)
		}
		if err != nil { // spec §3: continue, report all
			errs = append(errs, fmt.Sprintf("%s: %v", p.Network.Type, err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("GC: %s", strings.Join(errs, "; "))
	}
	return nil
}

func statusList(ctx context.Context, list *libcni.NetworkConfigList, paths []string, version string) error {
	if version == "" {
		version = list.CNIVersion
	}
	for _, p := range list.Plugins {
		conf, err := pluginConfig(list, p, version, nil)
		if err == nil {
			err = execNoResult(ctx, "STATUS", p.Network.Type, conf, paths)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func execNoResult(ctx context.Context, command, pluginType string, conf []byte, paths []string) error {
	pluginPath, err := invoke.FindInPath(pluginType, paths)
	if err != nil {
		return err
	}
	args := &invoke.Args{Command: command, Path: strings.Join(paths, string(os.PathListSeparator))}
	return invoke.ExecPluginWithoutResult(ctx, pluginPath, conf, args, nil)
}

// parseValid reads "cid/ifname,..." or, for "-", every cached attachment of this network — what a
// runtime knows to be alive.
func parseValid(spec, cacheDir, netName string) []attachment {
	atts := []attachment{}
	if spec != "-" {
		for _, item := range strings.Split(spec, ",") {
			if p := strings.SplitN(item, "/", 2); len(p) == 2 {
				atts = append(atts, attachment{p[0], p[1]})
			}
		}
		return atts
	}
	files, _ := filepath.Glob(filepath.Join(cacheDir, "results", netName+"-*"))
	for _, f := range files {
		data, err := ioutil.ReadFile(f)
		if err != nil {
			continue
		}
		var c struct {
			ContainerID string `json:"containerId"`
			IfName      string `json:"ifName"`
			NetworkName string `json:"networkName"`
		}
		if json.Unmarshal(data, &c) == nil && c.NetworkName == netName {
			atts = append(atts, attachment{c.ContainerID, c.IfName})
		}
	}
	return atts
}

// exitOn prints a CNI error as the plugin's JSON (so tests can read the code) and exits 1.
func exitOn(err error) {
	if err == nil {
		return
	}
	if e, ok := err.(*types.Error); ok {
		_ = e.Print()
	}
	fmt.Fprintln(os.Stderr, "libcni-driver:", err)
	os.Exit(1)
}

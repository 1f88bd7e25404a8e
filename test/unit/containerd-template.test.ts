// The containerd CNI config template (`tscni install --containerd-template`, cli/conflist.ts):
// rendered with Go's own text/template as containerd 1.6 renders its conf_template
// (test/helpers/containerd-template/main.go), it must be the conflist `--conflist-dir` writes for
// the same subnets — the same chain, host-local over every range kubelet sends, in its order.
// containerd itself renders it in test/integration/cri-template.test.ts.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ChainOptions, buildConflist, buildContainerdTemplate, checkTemplateName, rangesFor, routesFor } from "../../cli/conflist";
import { type InstallIo, containerdConfigLines, runInstall } from "../../cli/install-cni";

const REPO = path.resolve(__dirname, "../..");
const haveGo = spawnSync("sh", ["-c", "command -v go"]).status === 0;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "tscni-template-"));
const renderer = path.join(tmp, "render");
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** containerd's rendering of `template` for kubelet's `podCidr` value, parsed as JSON. */
function render(template: string, podCidr: string): Record<string, any> {
  const file = path.join(tmp, `t-${Math.random().toString(36).slice(2)}.template`);
  fs.writeFileSync(file, template);
  const r = spawnSync(renderer, [file, podCidr], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`render: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

describe("routes and ranges for the pod subnets", () => {
  it("one default route per family present, IPv4 first, as containerd fills .Routes; one range set per subnet in order", () => {
    expect(routesFor(["10.244.1.0/24"])).toEqual([{ dst: "0.0.0.0/0" }]);
    expect(routesFor(["fd00:10:244:1::/64"])).toEqual([{ dst: "::/0" }]);
    expect(routesFor(["fd00:10:244:1::/64", "10.244.1.0/24"])).toEqual([{ dst: "0.0.0.0/0" }, { dst: "::/0" }]);
    expect(rangesFor(["fd00::/64", "10.1.0.0/24"])).toEqual([[{ subnet: "fd00::/64" }], [{ subnet: "10.1.0.0/24" }]]);
  });
});

describe("the template's text", () => {
  it("leaves host-local's ranges and routes to containerd's .PodCIDRRanges and .Routes; the rest is the conflist's JSON", () => {
    const t = buildContainerdTemplate({});
    expect(t).toContain('"ranges": [{{range $i, $cidr := .PodCIDRRanges}}{{if $i}}, {{end}}[{"subnet": "{{$cidr}}"}]{{end}}]');
    expect(t).toContain('"routes": [{{range $i, $dst := .Routes}}{{if $i}}, {{end}}{"dst": "{{$dst}}"}{{end}}]');
    expect(t.match(/\{\{/g)!.length).toBe(10);
    expect(t.endsWith("}\n")).toBe(true);
  });

  it("is refused with the conflist's messages, and never under a name libcni would load", () => {
    expect(() => buildContainerdTemplate({ bridge: "a-bridge-name-too-long" })).toThrow('bridge name "a-bridge-name-too-long" is not a valid interface name');
    expect(() => buildContainerdTemplate({ dataDir: "cni" })).toThrow('data directory "cni" must be an absolute path');
    for (const f of ["/etc/cni/net.d/10-tscni.conflist", "x.conf", "x.json"]) expect(() => checkTemplateName(f), f).toThrow("must not end in .conf, .conflist or .json");
    expect(() => checkTemplateName("/etc/containerd/tscni-cni.template")).not.toThrow();
  });

  it("names the lines for containerd's config.toml", () => {
    expect(containerdConfigLines("/opt/cni/bin", "/etc/containerd/tscni-cni.template")).toEqual([
      '[plugins."io.containerd.grpc.v1.cri".cni]',
      '  bin_dir = "/opt/cni/bin"',
      '  conf_dir = "/etc/cni/net.d"',
      '  conf_template = "/etc/containerd/tscni-cni.template"',
    ]);
  });
});

describe.skipIf(!haveGo)(`rendered by Go's text/template as containerd 1.6 does${haveGo ? "" : " (go not installed: scripts/ci-deps.sh)"}`, () => {
  beforeAll(() => {
    const r = spawnSync("go", ["build", "-o", renderer, path.join(REPO, "test/helpers/containerd-template/main.go")], {
      encoding: "utf8",
      env: { ...process.env, GO111MODULE: "off", GOCACHE: path.join(REPO, "build/go-cache"), GOFLAGS: "", CGO_ENABLED: "0" },
    });
    if (r.status !== 0) throw new Error(`go build: ${r.stderr}`);
  }, 120_000);

  const cases: [string, ChainOptions][] = [
    ["defaults", {}],
    ["every option", { network: "k8s-pod-network", bridge: "br-pods", ipMasq: false, bandwidth: false, mtu: 1450, dataDir: "/srv/cni/networks" }],
    ["a data directory that looks like an action", { dataDir: "/srv/{{.PodCIDR}}/x" }],
  ];
  for (const [what, o] of cases) {
    it(`is the conflist for the same single-stack subnet (${what})`, () => {
      expect(render(buildContainerdTemplate(o), "10.244.7.0/24")).toEqual(buildConflist({ ...o, podCidr: "10.244.7.0/24" }));
    });
  }

  it("is dual-stack when kubelet sends two ranges, in either order, with the routes of both families", () => {
    const t = buildContainerdTemplate({});
    const both = buildConflist({ podCidr: "10.244.7.0/24,fd00:10:244:7::/64" }) as any;
    expect(render(t, "10.244.7.0/24,fd00:10:244:7::/64")).toEqual(both);
    // IPv6 first (an IPv6-primary cluster): host-local's ranges keep kubelet's order; the routes are containerd's.
    const v6first = render(t, "fd00:10:244:7::/64, 10.244.7.0/24");
    expect(v6first.plugins[0].ipam).toEqual({ type: "host-local", ranges: [[{ subnet: "fd00:10:244:7::/64" }], [{ subnet: "10.244.7.0/24" }]], routes: [{ dst: "0.0.0.0/0" }, { dst: "::/0" }] });
    expect({ ...v6first, plugins: v6first.plugins.map((p: any) => ({ ...p, ipam: undefined })) }).toEqual({ ...both, plugins: both.plugins.map((p: any) => ({ ...p, ipam: undefined })) });
    expect(render(t, "fd00:10:244:7::/64").plugins[0].ipam.routes).toEqual([{ dst: "::/0" }]);
  });

  it("is what `tscni install --containerd-template` writes, after the plugins, with the config.toml lines printed", async () => {
    const dir = path.join(tmp, "install");
    const exe = path.join(tmp, "fake-tscni");
    fs.writeFileSync(exe, "#!/bin/sh\n", { mode: 0o755 });
    const lines: string[] = [];
    const io: InstallIo = { out: (s) => lines.push(s), err: (s) => lines.push(`ERR ${s}`) };
    const template = path.join(dir, "etc/tscni-cni.template");
    const args = { dir: path.join(dir, "bin"), shim: false, conflistName: "10-tscni.conflist", ipMasq: true, bandwidth: true, network: "podnet", executable: exe };
    expect(await runInstall({ ...args, containerdTemplate: template }, {}, io)).toBe(0);
    expect(fs.readFileSync(template, "utf8")).toBe(buildContainerdTemplate({ network: "podnet" }));
    expect(render(fs.readFileSync(template, "utf8"), "10.9.0.0/24")).toEqual(buildConflist({ podCidr: "10.9.0.0/24", network: "podnet" }));
    expect(lines.filter((l) => l.startsWith("installed")).length).toBe(4);
    expect(lines.slice(4)).toEqual([
      `wrote ${template}`,
      expect.stringContaining("10-containerd-net.conflist"),
      expect.stringContaining("config.toml"),
      ...containerdConfigLines(path.join(dir, "bin"), template).map((l) => `  ${l}`),
    ]);
    // Not with a conflist or a subnet of its own: kubelet's subnets reach containerd, not us.
    lines.length = 0;
    expect(await runInstall({ ...args, containerdTemplate: template, conflistDir: path.join(dir, "net.d") }, {}, io)).toBe(2);
    expect(await runInstall({ ...args, containerdTemplate: template, podCidr: "10.9.0.0/24" }, {}, io)).toBe(2);
    expect(await runInstall({ ...args, containerdTemplate: path.join(dir, "net.d/x.conflist") }, {}, io)).toBe(2);
    expect(lines).toEqual([
      "ERR tscni install: --containerd-template and --conflist-dir exclude each other: with a template, containerd writes the conflist",
      "ERR tscni install: --pod-cidr has no use with --containerd-template: kubelet sends the node's pod subnets to containerd",
      `ERR tscni install: template "${path.join(dir, "net.d/x.conflist")}" must not end in .conf, .conflist or .json (libcni would load it unrendered from a CNI config directory)`,
    ]);
    expect(fs.existsSync(path.join(dir, "net.d"))).toBe(false);
  });
});

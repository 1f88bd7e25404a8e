// The result model plugins build: the newest spec shape (1.1.0, identical to 1.0.0 apart from
// interface fields added in 1.1.0). Older shapes exist only at the edges (see convert.ts).

export interface Interface {
  name: string;
  mac?: string;
  mtu?: number;
  sandbox?: string;
  socketPath?: string;
  pciID?: string;
}

export interface IPConfig {
  /** CIDR form: the address with its prefix length, e.g. "10.1.0.5/24". */
  address: string;
  gateway?: string;
  /** Index into `interfaces`. */
  interface?: number;
}

export interface Route {
  dst: string;
  gw?: string;
  mtu?: number;
  advmss?: number;
  priority?: number;
  table?: number;
  scope?: number;
}

export interface DNS {
  nameservers?: string[];
  domain?: string;
  search?: string[];
  options?: string[];
}

export interface Result {
  cniVersion: string;
  interfaces?: Interface[];
  ips?: IPConfig[];
  routes?: Route[];
  dns?: DNS;
}

/** 0.3.0 – 0.4.0 carry an explicit IP version per address. */
export interface IPConfig04 {
  version: "4" | "6";
  address: string;
  gateway?: string;
  interface?: number;
}

/** 0.1.0 / 0.2.0: at most one address per family, routes nested under it. */
export interface IPConfig02 {
  ip: string;
  gateway?: string;
  routes?: { dst: string; gw?: string }[];
}

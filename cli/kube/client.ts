// The part of the Kubernetes client library (@kubernetes/client-node) tscni uses, and the entry of
// the executable's second bundle (scripts/build.mjs: the asset tscni-k8s.cjs). Nothing on the CNI
// path loads it: cli/kube/load.ts does, for `tscni install` when it reads the node's pod subnets.
export { ApiException, CoreV1Api, KubeConfig, Observable } from "@kubernetes/client-node";
export type { ObservableMiddleware, V1Node } from "@kubernetes/client-node";

/**
 * The port a node serves on when none is given: `pi-origin serve`'s `--listen [::]:8080`, and
 * what the cluster commands assume without `origin_node_port`. The Ansible roles carry the same
 * number as a literal (`origin_node_port: 8080`, `default(8080)`); test/architecture.test.ts
 * checks that every one of them agrees with this constant.
 */
export const DEFAULT_PORT = 8080;

/**
 * `pi-origin cluster <command>`: the cluster as Ansible's inventory describes it. One module per
 * subcommand (cli/cluster-*.ts) parses its arguments and prints; the work is in cluster/*.ts.
 */
import { DnsAddressError } from '../cluster/dns.js';
import { InventoryError } from '../cluster/inventory.js';
import { PlaybookError } from '../cluster/playbook.js';
import { ManifestError } from '../release/manifest.js';
import { ARTIFACT } from './cluster-artifact.js';
import { CHECK } from './cluster-check.js';
import { DASHBOARD } from './cluster-dashboard.js';
import { DEREGISTER } from './cluster-deregister.js';
import { DNS } from './cluster-dns.js';
import { PROMETHEUS_TARGETS } from './cluster-prometheus-targets.js';
import { PREVIEW } from './cluster-preview.js';
import { PROVISION } from './cluster-provision.js';
import { REGISTER } from './cluster-register.js';
import { ROLLBACK } from './cluster-rollback.js';
import { ROLLOUT } from './cluster-rollout.js';
import { STATUS } from './cluster-status.js';
import { fail, type Group, type Subcommand } from './subcommands.js';

/** In `cluster --help` order. */
const SUBCOMMANDS: Readonly<Record<string, Subcommand>> = {
  status: STATUS,
  dns: DNS,
  check: CHECK,
  dashboard: DASHBOARD,
  'prometheus-targets': PROMETHEUS_TARGETS,
  artifact: ARTIFACT,
  provision: PROVISION,
  preview: PREVIEW,
  rollout: ROLLOUT,
  rollback: ROLLBACK,
  register: REGISTER,
  deregister: DEREGISTER,
};

export const CLUSTER: Group = {
  summary: 'operate the nodes listed in an Ansible inventory',
  subcommands: SUBCOMMANDS,
  onError: (e) => (e instanceof InventoryError || e instanceof PlaybookError || e instanceof ManifestError || e instanceof DnsAddressError ? fail(e.message, 1) : undefined),
};

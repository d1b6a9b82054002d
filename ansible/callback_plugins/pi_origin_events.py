# pi-origin: a stdout callback that writes one JSON object per line for `pi-origin cluster`.
# The CLI selects it with ANSIBLE_STDOUT_CALLBACK=pi_origin_events and
# ANSIBLE_CALLBACK_PLUGINS=<package>/ansible/callback_plugins; ansible-playbook run by hand
# keeps the callback ansible.cfg names. Parsing JSON instead of the default callback's text
# keeps the CLI independent of banner widths, colours and the `=> {...}` layout.
#
# Every line is {"event": NAME, ...}; the reader (cluster/playbook.ts) ignores unknown events
# and fields, so adding one is compatible. Warnings and deprecations go to stderr as usual.
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = '''
    name: pi_origin_events
    type: stdout
    short_description: one JSON object per line, for pi-origin cluster
    description:
      - Emits playbook, play, task, per-host result and recap events as JSON lines.
      - Used by C(pi-origin cluster rollout|rollback|register|deregister|provision).
'''

import json

from ansible.module_utils.common.json import AnsibleJSONEncoder
from ansible.playbook.block import Block
from ansible.plugins.callback import CallbackBase

# What a failure report needs; the rest of a result (facts, diffs, invocation) stays out.
DETAIL_KEYS = ('msg', 'rc', 'stderr', 'stdout', 'module_stderr', 'module_stdout')
# A command's output can be megabytes; its end says what went wrong.
MAX_TEXT = 8000
MAX_ITEMS = 10


def _tail(value):
    if isinstance(value, str) and len(value) > MAX_TEXT:
        return '...' + value[-MAX_TEXT:]
    return value


def _detail(res):
    out = dict((k, _tail(res[k])) for k in DETAIL_KEYS if k in res)
    items = res.get('results')
    if isinstance(items, list):
        failed = [
            dict(_detail(i), item=i.get('_ansible_item_label', i.get('item')))
            for i in items
            if isinstance(i, dict) and (i.get('failed') or i.get('unreachable'))
        ]
        if failed:
            out['results'] = failed[:MAX_ITEMS]
    return out


def _rescued(task):
    """True when a failure of `task` will run a rescue section: it sits in the main part of a
    block (at any depth) that has one. Compared by _uuid: the strategy hands callbacks a copy."""
    child, parent = task, getattr(task, '_parent', None)
    while parent is not None:
        if isinstance(parent, Block) and parent.rescue:
            if any(getattr(c, '_uuid', None) == child._uuid for c in parent.block):
                return True
        child, parent = parent, getattr(parent, '_parent', None)
    return False


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'stdout'
    CALLBACK_NAME = 'pi_origin_events'

    def __init__(self):
        super(CallbackModule, self).__init__()
        self._play = ''

    def _emit(self, event, **fields):
        fields['event'] = event
        self._display.display(json.dumps(fields, cls=AnsibleJSONEncoder, ensure_ascii=False, sort_keys=True))

    def _task_fields(self, task):
        return {
            'play': self._play,
            'task': task.name or task.action,
            'role': task._role.get_name(include_role_fqcn=False) if task._role else None,
        }

    def v2_playbook_on_start(self, playbook):
        self._emit('playbook', file=playbook._file_name)

    def v2_playbook_on_play_start(self, play):
        self._play = play.get_name().strip()
        hosts = None
        try:
            # Sent once per serial batch; the inventory is restricted to the batch.
            inventory = play.get_variable_manager()._inventory
            hosts = [h.get_name() for h in inventory.get_hosts(play.hosts, order=play.order)]
        except Exception:  # the batch is a nicety; never break a run over it
            pass
        self._emit('play', play=self._play, hosts=hosts)

    def _task_start(self, task, kind):
        self._emit('task', kind=kind, **self._task_fields(task))

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._task_start(task, 'task')

    def v2_playbook_on_handler_task_start(self, task):
        self._task_start(task, 'handler')

    def v2_playbook_on_cleanup_task_start(self, task):
        self._task_start(task, 'cleanup')

    def v2_runner_on_start(self, host, task):
        self._emit('host_start', host=host.get_name(), **self._task_fields(task))

    def _result(self, result, status, detail=False):
        res = result._result
        self._handle_warnings(res)
        fields = self._task_fields(result._task)
        fields.update(host=result._host.get_name(), status=status)
        if result._task.delegate_to and result._task.delegate_to != result._host.get_name():
            fields['delegated_to'] = result._task.delegate_to
        if detail:
            fields['result'] = _detail(res)
        elif result._task.action in ('debug', 'ansible.builtin.debug', 'ansible.legacy.debug') and 'msg' in res and 'results' not in res:
            fields['result'] = {'msg': res['msg']}
        self._emit('result', **fields)

    def v2_runner_on_ok(self, result):
        self._result(result, 'changed' if result._result.get('changed', False) else 'ok')

    def v2_runner_on_skipped(self, result):
        self._result(result, 'skipped')

    def v2_runner_on_failed(self, result, ignore_errors=False):
        status = 'ignored' if ignore_errors else 'rescued' if _rescued(result._task) else 'failed'
        self._result(result, status, detail=True)

    def v2_runner_on_unreachable(self, result):
        self._result(result, 'unreachable', detail=True)

    def v2_playbook_on_no_hosts_matched(self):
        self._emit('no_hosts_matched', play=self._play)

    def v2_playbook_on_no_hosts_remaining(self):
        self._emit('no_hosts_remaining', play=self._play)

    def v2_playbook_on_stats(self, stats):
        hosts = {}
        for host in sorted(stats.processed.keys()):
            s = stats.summarize(host)
            hosts[host] = {
                'ok': s['ok'], 'changed': s['changed'], 'unreachable': s['unreachable'], 'failed': s['failures'],
                'skipped': s['skipped'], 'rescued': s['rescued'], 'ignored': s['ignored'],
            }
        self._emit('recap', hosts=hosts)

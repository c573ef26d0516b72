"""The fake virt driver: ledger idempotency, claims, failure injection,
on-disk state and the effects log."""

import json
import os
import threading

import pytest

from nova_proxy.common import states
from nova_proxy.compute.virt import fake
from nova_proxy import conf
from nova_proxy import exception

CONF = conf.CONF

SMALL = {'memory_mb': 1024, 'vcpus': 1, 'root_gb': 10, 'name': 'small'}
BIG = {'memory_mb': 2048, 'vcpus': 2, 'root_gb': 20, 'name': 'big'}
UUID = '5f6e3d1c-0000-4000-8000-000000000001'


def effects(driver):
    if not os.path.exists(driver.effects_file):
        return []
    with open(driver.effects_file) as f:
        return [json.loads(line) for line in f]


def build(driver, uuid=UUID, flavor=SMALL, operation_id=None):
    driver.claim(uuid, flavor)
    driver.spawn(dict(flavor, uuid=uuid), operation_id=operation_id)


def test_spawn_claims_and_reports_usage(driver):
    build(driver)
    usage = driver.usage()
    assert usage['vcpus_used'] == 1
    assert usage['memory_mb_used'] == 1024
    assert usage['local_gb_used'] == 10
    assert usage['running_vms'] == 1
    assert usage['vcpus'] == 4
    assert driver.power_state(UUID) == states.POWER_RUNNING


def test_claim_without_room_is_refused_and_changes_nothing(driver):
    build(driver, flavor=BIG)
    other = '5f6e3d1c-0000-4000-8000-000000000002'
    with pytest.raises(exception.ComputeResourcesUnavailable) as e:
        driver.claim(other, {'memory_mb': 4096, 'vcpus': 1, 'root_gb': 1})
    assert 'memory_mb: 4096 requested, 2048 free' in str(e.value)
    assert other not in driver.get_state()['claims']
    assert driver.usage()['memory_mb_used'] == 2048


def test_claim_is_idempotent_per_instance(driver):
    first = driver.claim(UUID, SMALL)
    second = driver.claim(UUID, SMALL)
    assert first == second
    assert driver.usage()['memory_mb_used'] == 1024


def test_bad_flavor_is_a_named_error(driver):
    with pytest.raises(exception.InvalidRequest):
        driver.claim(UUID, {'memory_mb': 'lots', 'vcpus': 1})


def test_migration_step_applies_once_and_replays_from_ledger(driver):
    first = driver.prep_resize(UUID, 7, BIG, 'op-1')
    again = driver.prep_resize(UUID, 7, BIG, 'op-1')
    assert first == again
    assert first['claim']['memory_mb'] == 2048
    assert first['claim']['host'] == 'host1'
    assert driver.usage()['memory_mb_used'] == 2048
    applied = [e for e in effects(driver) if e['step'] == 'prep_resize']
    assert len(applied) == 1
    assert applied[0]['operation_id'] == 'op-1'
    assert applied[0]['instance_uuid'] == UUID
    assert applied[0]['host'] == 'host1'
    assert 'op-1/prep_resize' in driver.get_state()['ledger']


def test_same_step_of_another_operation_applies_again(driver):
    driver.abort_prep_resize(UUID, 7, 'op-1')
    driver.abort_prep_resize(UUID, 7, 'op-2')
    assert [e['operation_id'] for e in effects(driver)] == ['op-1', 'op-2']


def test_ledger_survives_a_restart(driver, tmp_path):
    driver.prep_resize(UUID, 7, BIG, 'op-1')
    restarted = fake.FakeDriver('host1', str(tmp_path), vcpus=4,
                                memory_mb=4096, local_gb=40)
    restarted.start()
    assert restarted.prep_resize(UUID, 7, BIG, 'op-1')['claim']['vcpus'] == 2
    assert restarted.usage()['vcpus_used'] == 2
    assert len(effects(restarted)) == 1


def test_state_file_is_replaced_atomically(driver):
    build(driver)
    with open(driver.state_file) as f:
        state = json.load(f)
    assert UUID in state['instances']
    assert not os.path.exists(driver.state_file + '.tmp')


def test_resize_copy_reports_progress_and_powers_off(driver):
    build(driver)
    seen = []
    assert driver.resize_instance(UUID, 7, 'op-1',
                                  progress=seen.append) == {}
    assert seen == [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]
    assert driver.power_state(UUID) == states.POWER_SHUTDOWN
    # A replay neither copies nor reports again.
    seen.clear()
    driver.resize_instance(UUID, 7, 'op-1', progress=seen.append)
    assert seen == []


def test_a_failing_progress_report_does_not_fail_the_copy(driver):
    build(driver)

    def broken(percent):
        raise RuntimeError('proxy gone')
    assert driver.resize_instance(UUID, 7, 'op-1', progress=broken) == {}
    assert driver.step_done('op-1', 'resize_instance')


def test_duplicate_deliveries_during_a_copy_apply_once(driver):
    build(driver)
    driver.copy_seconds = 0.3
    results = []
    threads = [threading.Thread(
        target=lambda: results.append(
            driver.resize_instance(UUID, 7, 'op-1')))
        for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [{}, {}, {}]
    assert len([e for e in effects(driver)
                if e['step'] == 'resize_instance']) == 1


def resized_between_two_hosts(tmp_path):
    """An instance built on ``src`` and resized to BIG on ``dst``."""
    source = fake.FakeDriver('src', str(tmp_path / 'src'), 8, 8192, 100)
    dest = fake.FakeDriver('dst', str(tmp_path / 'dst'), 8, 8192, 100)
    source.start()
    dest.start()
    build(source)
    dest.prep_resize(UUID, 3, BIG, 'op')
    source.resize_instance(UUID, 3, 'op')
    dest.finish_resize(UUID, 3, BIG, 'op')
    return source, dest


def test_full_resize_then_confirm_on_two_hosts(tmp_path):
    source, dest = resized_between_two_hosts(tmp_path)
    source.confirm_resize(UUID, 3, 'op')
    assert source.get_state()['instances'] == {}
    assert source.usage()['memory_mb_used'] == 0
    assert dest.power_state(UUID) == states.POWER_RUNNING
    assert dest.usage()['memory_mb_used'] == 2048
    # Terminating on the destination frees the migration claim too.
    dest.destroy(UUID)
    assert dest.usage()['memory_mb_used'] == 0


def test_full_resize_then_revert_on_two_hosts(tmp_path):
    source, dest = resized_between_two_hosts(tmp_path)
    dest.revert_resize(UUID, 3, 'op-revert')
    source.finish_revert_resize(UUID, 3, SMALL, 'op-revert')
    assert dest.get_state()['instances'] == {}
    assert dest.usage()['memory_mb_used'] == 0
    assert source.power_state(UUID) == states.POWER_RUNNING
    state = source.get_state()['instances'][UUID]
    assert state['memory_mb'] == 1024 and state['role'] == 'active'
    assert source.usage()['memory_mb_used'] == 1024


def test_abort_prep_resize_drops_the_claim(driver):
    driver.prep_resize(UUID, 9, BIG, 'op')
    driver.abort_prep_resize(UUID, 9, 'op')
    assert driver.get_state()['claims'] == {}


def test_injected_failure_from_config(driver):
    driver._fail_steps = ['prep_resize']
    with pytest.raises(exception.StepFailed) as e:
        driver.prep_resize(UUID, 7, BIG, 'op-1')
    assert e.value.kwargs['step'] == 'prep_resize'
    assert e.value.kwargs['operation_id'] == 'op-1'
    # Nothing changed, nothing was recorded: a later retry applies it.
    assert driver.get_state() == {'instances': {}, 'claims': {},
                                  'ledger': {}}
    assert effects(driver) == []
    driver._fail_steps = []
    driver.prep_resize(UUID, 7, BIG, 'op-1')
    assert driver.step_done('op-1', 'prep_resize')


def test_from_conf_reads_fake_fail_steps(tmp_path):
    CONF.set_override('fake_fail_steps', ['spawn'], group='compute')
    driver = fake.FakeDriver.from_conf('h')
    driver.start()
    assert driver.fail_steps() == ['spawn']
    with pytest.raises(exception.StepFailed):
        driver.spawn(dict(SMALL, uuid=UUID))


def test_environment_variable_wins_over_config(driver, monkeypatch):
    driver._fail_steps = ['spawn']
    monkeypatch.setenv('NOVA_PROXY_FAKE_FAIL_STEPS',
                       ' resize_instance , finish_resize')
    assert driver.fail_steps() == ['resize_instance', 'finish_resize']
    build(driver)   # spawn no longer fails
    with pytest.raises(exception.StepFailed):
        driver.resize_instance(UUID, 7, 'op')
    # Set but empty: no step fails, whatever the option says.
    monkeypatch.setenv('NOVA_PROXY_FAKE_FAIL_STEPS', '')
    assert driver.fail_steps() == []


def test_a_step_in_the_ledger_is_answered_even_if_told_to_fail(driver):
    driver.prep_resize(UUID, 7, BIG, 'op-1')
    driver._fail_steps = ['prep_resize']
    assert driver.prep_resize(UUID, 7, BIG, 'op-1')['claim']['vcpus'] == 2


def test_power_off_of_an_unknown_instance_is_a_step_failure(driver):
    with pytest.raises(exception.StepFailed):
        driver.power_off(UUID)


def test_destroy_is_idempotent(driver):
    build(driver)
    driver.destroy(UUID)
    driver.destroy(UUID)
    assert driver.get_state()['instances'] == {}
    assert driver.usage()['vcpus_used'] == 0

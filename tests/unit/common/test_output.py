"""The formats of ``nova-compute-proxy-manage``, one by one."""

import argparse
import io
import json

import pytest
import yaml

from nova_proxy.common import output

COLUMNS = ('id', 'name', 'count', 'tags')
ROWS = [('a-1', 'web one', 3, ['x', 'y']), ('b-2', None, 12, [])]


def emit(fmt, columns=(), rows=ROWS, **kwargs):
    out = io.StringIO()
    args = argparse.Namespace(output_format=fmt,
                              output_columns=list(columns))
    output.emit_list(COLUMNS, rows, out=out, args=args, **kwargs)
    return out.getvalue()


def test_table_is_bordered_with_numbers_to_the_right():
    assert emit('table') == (
        '+-----+---------+-------+------------+\n'
        '| id  | name    | count | tags       |\n'
        '+-----+---------+-------+------------+\n'
        '| a-1 | web one |     3 | ["x", "y"] |\n'
        '| b-2 |         |    12 | []         |\n'
        '+-----+---------+-------+------------+\n')


def test_an_empty_table_prints_nothing():
    assert emit('table', rows=[]) == ''
    assert emit('json', rows=[]) == '[]\n'
    assert emit('yaml', rows=[]) == '[]\n'


def test_json_and_yaml_keep_types():
    expected = [{'id': 'a-1', 'name': 'web one', 'count': 3,
                 'tags': ['x', 'y']},
                {'id': 'b-2', 'name': None, 'count': 12, 'tags': []}]
    assert json.loads(emit('json')) == expected
    assert yaml.safe_load(emit('yaml')) == expected


def test_value_and_csv_for_scripts():
    assert emit('value', ['id', 'count']) == 'a-1 3\nb-2 12\n'
    assert emit('csv') == ('"id","name","count","tags"\n'
                           '"a-1","web one",3,"[""x"", ""y""]"\n'
                           '"b-2","",12,"[]"\n')


def test_columns_keep_their_order_and_unknown_ones_are_named():
    assert emit('value', ['count', 'id']) == 'a-1 3\nb-2 12\n'
    with pytest.raises(SystemExit) as e:
        emit('value', ['nope'])
    assert str(e.value) == ('Error: no column nope; the columns are: id, '
                            'name, count, tags')


def test_table_cells_shorten_the_table_only():
    cells = {'name': lambda v: (v or '')[:3]}
    assert '| a-1 | web  |' in emit('table', table_cells=cells)
    assert json.loads(emit('json', table_cells=cells))[0]['name'] == \
        'web one'


def test_one_record():
    record = {'id': 'a-1', 'state': {'done': ['x']}, 'error': None}
    for fmt, expected in (
            ('json', record), ('yaml', record)):
        out = io.StringIO()
        output.emit_one(record, out=out, args=argparse.Namespace(
            output_format=fmt, output_columns=[]))
        load = json.loads if fmt == 'json' else yaml.safe_load
        assert load(out.getvalue()) == expected
    out = io.StringIO()
    output.emit_one(record, out=out, args=argparse.Namespace(
        output_format='table', output_columns=[]))
    assert '| state | {"done": ["x"]} |' in out.getvalue()
    out = io.StringIO()
    output.emit_one(record, out=out, args=argparse.Namespace(
        output_format='value', output_columns=['id', 'error']))
    assert out.getvalue() == 'a-1\n\n'


def test_sections_are_tables_under_headings_or_one_document():
    sections = [('first', 'First: 1', ('a',), [(1,)]),
                ('second', 'Second: none', ('b',), [])]
    out = io.StringIO()
    output.emit_sections(sections, out=out, args=argparse.Namespace(
        output_format='table'))
    assert out.getvalue() == ('First: 1\n+---+\n| a |\n+---+\n| 1 |\n'
                              '+---+\n\nSecond: none\n')
    out = io.StringIO()
    output.emit_sections(sections, out=out, args=argparse.Namespace(
        output_format='json'))
    assert json.loads(out.getvalue()) == {'first': [{'a': 1}],
                                          'second': []}


def test_without_a_command_line_the_defaults_apply(config):
    out = io.StringIO()
    output.emit_list(('a',), [(1,)], out=out)
    assert out.getvalue().startswith('+---+')

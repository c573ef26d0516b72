"""What ``nova-compute-proxy-manage`` prints, as the openstack client does.

A listing or a record prints as a table by default; ``-f json``, ``-f
yaml``, ``-f value`` (values only, space-separated, no header) and, for a
listing, ``-f csv`` are for scripts; ``-c COLUMN`` (repeatable) keeps only
the columns named. The table and the formats look like cliff's, the
library behind the openstack client: bordered tables, JSON indented by 2,
CSV with a header and the text quoted.

Not cliff itself: cliff owns the command line (its App and Command
classes parse it), while ours is parsed by oslo.config together with the
config files, as nova-manage's is, and the command groups, the error lines
of ``cmd/manage.py`` and the tests build on that; what we need of cliff is
only its five formatters, which fit in this module on prettytable and
PyYAML.

``Progress`` is the progress line of ``--wait`` and ``server watch``: one
line rewritten in place on a terminal, a plain line per change otherwise.
"""

import csv
import json
import sys

__all__ = ['add_list_options', 'add_show_options', 'emit_list', 'emit_one',
           'emit_sections', 'Progress', 'LIST_FORMATS', 'SHOW_FORMATS']

LIST_FORMATS = ('table', 'json', 'yaml', 'value', 'csv')
SHOW_FORMATS = ('table', 'json', 'yaml', 'value')

# Parsed under these names: oslo.config keeps a sub-command's arguments
# beside the options of the DEFAULT group, and ``CONF.command.format``
# would read well but ``columns`` is a common word elsewhere.
_FORMAT = 'output_format'
_COLUMNS = 'output_columns'


def _add(parser, formats, default):
    group = parser.add_argument_group('output formatters')
    group.add_argument('-f', '--format', dest=_FORMAT, choices=formats,
                       default=default,
                       help='The output format (default %s).' % (
                           default or 'a line for people'))
    group.add_argument('-c', '--column', dest=_COLUMNS, action='append',
                       metavar='COLUMN', default=[],
                       help='Print only this column (repeatable).')


def add_list_options(parser):
    """``-f`` and ``-c`` for a command that prints a listing."""
    _add(parser, LIST_FORMATS, 'table')


def add_show_options(parser, default='table'):
    """``-f`` and ``-c`` for a command that prints one record; ``default``
    None: the command prints something else unless ``-f`` is given."""
    _add(parser, SHOW_FORMATS, default)


def _parsed(args):
    if args is None:
        from nova_proxy import conf
        # Called outside the command line (the demo's in-process mode, a
        # test): the defaults.
        args = getattr(conf.CONF, 'command', None) if 'command' in \
            conf.CONF else None
    return (getattr(args, _FORMAT, None) or 'table',
            list(getattr(args, _COLUMNS, None) or []))


def _selected(columns, wanted):
    if not wanted:
        return list(columns)
    unknown = [c for c in wanted if c not in columns]
    if unknown:
        raise SystemExit('Error: no column %s; the columns are: %s'
                         % (', '.join(unknown), ', '.join(columns)))
    return [c for c in columns if c in wanted]


def _text(value):
    """A cell of a table, a value or a CSV field."""
    if value is None:
        return ''
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return str(value)


def _table(headers, rows, max_width=None):
    import prettytable
    table = prettytable.PrettyTable(headers, print_empty=False)
    table.padding_width = 1
    for index, header in enumerate(headers):
        present = [row[index] for row in rows if row[index] is not None]
        numeric = present and all(
            isinstance(v, (int, float)) and not isinstance(v, bool)
            for v in present)
        table.align[header] = 'r' if numeric else 'l'
    if max_width:
        table.max_width = max_width
    for row in rows:
        table.add_row([_text(v) for v in row])
    return table.get_string()


def _yaml(data):
    import yaml
    return yaml.safe_dump(data, default_flow_style=False,
                          sort_keys=False).rstrip('\n')


def emit_list(columns, rows, out=None, args=None, table_cells=None):
    """Print ``rows`` (sequences in the order of ``columns``).

    :param table_cells: ``{column: function}`` shortening a value for the
        table only (the other formats carry it whole).
    """
    out = out or sys.stdout
    fmt, wanted = _parsed(args)
    names = _selected(columns, wanted)
    index = [columns.index(c) for c in names]
    picked = [[row[i] for i in index] for row in rows]
    if fmt == 'table':
        cells = table_cells or {}
        shown = [[cells[c](v) if c in cells else v
                  for c, v in zip(names, row)] for row in picked]
        text = _table(names, shown)
        if text:
            out.write(text + '\n')
    elif fmt == 'json':
        out.write(json.dumps([dict(zip(names, row)) for row in picked],
                             indent=2, default=str) + '\n')
    elif fmt == 'yaml':
        if picked:
            out.write(_yaml([dict(zip(names, row)) for row in picked])
                      + '\n')
        else:
            out.write('[]\n')
    elif fmt == 'value':
        for row in picked:
            out.write(' '.join(_text(v) for v in row) + '\n')
    elif fmt == 'csv':
        writer = csv.writer(out, quoting=csv.QUOTE_NONNUMERIC,
                            lineterminator='\n')
        writer.writerow(names)
        for row in picked:
            writer.writerow([v if isinstance(v, (int, float)) and
                             not isinstance(v, bool) else _text(v)
                             for v in row])
    out.flush()


def emit_one(record, columns=None, out=None, args=None):
    """Print one record (a dict) as ``Field | Value`` rows, or as a JSON
    or YAML mapping, or its values one per line."""
    out = out or sys.stdout
    fmt, wanted = _parsed(args)
    names = _selected(list(columns or record), wanted)
    if fmt == 'table':
        out.write(_table(['Field', 'Value'],
                         [[n, _text(record.get(n))] for n in names],
                         max_width=100) + '\n')
    elif fmt == 'json':
        out.write(json.dumps({n: record.get(n) for n in names}, indent=2,
                             default=str)
                  + '\n')
    elif fmt == 'yaml':
        out.write(_yaml({n: record.get(n) for n in names}) + '\n')
    elif fmt == 'value':
        for n in names:
            out.write(_text(record.get(n)) + '\n')
    out.flush()


def emit_sections(sections, out=None, args=None):
    """Print several listings as one screen: ``sections`` is ``[(key,
    heading, columns, rows)]``. A table per section under its heading
    line; JSON and YAML get one mapping ``{key: [rows as mappings]}``."""
    out = out or sys.stdout
    fmt, _ = _parsed(args)
    if fmt in ('json', 'yaml'):
        data = {key: [dict(zip(columns, row)) for row in rows]
                for key, _, columns, rows in sections}
        out.write((json.dumps(data, indent=2, default=str) if fmt == 'json'
                   else _yaml(data)) + '\n')
    else:
        for number, (_, heading, columns, rows) in enumerate(sections):
            if number:
                out.write('\n')
            out.write('%s\n' % heading)
            text = _table(columns, rows)
            if text:
                out.write(text + '\n')
    out.flush()


class Progress:
    """One progress line: rewritten in place on a terminal, one plain
    line per change when the output is a file or a pipe (a log, a CI
    job, ``| grep``)."""

    def __init__(self, out=None):
        self.out = out or sys.stdout
        self.tty = bool(getattr(self.out, 'isatty', lambda: False)())
        self.last = None
        self.width = 0

    def update(self, text):
        if text == self.last:
            return
        self.last = text
        if self.tty:
            # Back to the start of the line; blank what a longer line left.
            pad = max(0, self.width - len(text))
            self.out.write('\r' + text + ' ' * pad)
            self.width = len(text)
        else:
            self.out.write(text + '\n')
        self.out.flush()

    def finish(self, text=None):
        """End the line (and print ``text`` as the last one)."""
        if text is not None:
            self.update(text)
        if self.tty and self.last is not None:
            self.out.write('\n')
            self.out.flush()

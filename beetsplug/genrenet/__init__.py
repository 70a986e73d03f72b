"""genrenet for beets: genres from the audio itself, stored through beets' own database and tag writing.

    plugins: genrenet
    genrenet:
        model: ~/models/genres.safetensors   # a genrenet model file (required)
        binary: genrenet                     # the genrenet executable (default: the one on PATH)
        server: ''                           # or http://127.0.0.1:8080: a running `genrenet serve` instead
        min_confidence: 0.5                  # answers below this are unsure: the item is left alone
        field: genre                         # the field set (genrenet_genre and genrenet_confidence always)
        format: '{Genre}'                    # {genre} as the model names it, {Genre} capitalised
        auto: no                             # classify items as they are imported
        force: no                            # also items that have a genre already

    beet genrenet [QUERY] [-p/--pretend] [-f/--force] [--min-confidence P]

The answer is genrenet's, after its calibrated "unknown" rule (genrenet predict --min-confidence): an item
whose answer is "unknown" keeps every field as it was. Nothing is written with --pretend.
"""

import json
import os
import shutil
import subprocess
import urllib.error
import urllib.request

from beets import ui
from beets.plugins import BeetsPlugin
from beets.util import syspath

# Files classified by one `genrenet predict` process (one model load for many files).
BATCH = 64


class GenrenetError(Exception):
    pass


def _path(item):
    p = item.path
    return p.decode("utf-8", "surrogateescape") if isinstance(p, bytes) else p


def _genre_field(item, field):
    """beets 2.x keeps genres as a list field, `genres` (the old `genre` migrated into it): the genre is that."""
    if field == "genre" and "genre" not in item._fields and "genres" in item._fields:
        return "genres"
    return field


def _get(item, field):
    name = _genre_field(item, field)
    value = item.get(name)
    return "; ".join(value) if isinstance(value, (list, tuple)) else (value or "")


def _set(item, field, value):
    name = _genre_field(item, field)
    item[name] = [value] if name == "genres" else value


class GenrenetPlugin(BeetsPlugin):
    def __init__(self):
        super().__init__()
        self.config.add({
            "model": "",
            "binary": "genrenet",
            "server": "",
            "min_confidence": 0.5,
            "field": "genre",
            "format": "{Genre}",
            "auto": False,
            "force": False,
        })
        if self.config["auto"].get(bool):
            self.import_stages = [self.imported]

    # -- the command ---------------------------------------------------------------------------------
    def commands(self):
        cmd = ui.Subcommand("genrenet", help="set genres from the audio with genrenet")
        cmd.parser.add_option("-p", "--pretend", action="store_true", default=False,
                              help="show what would be set; change nothing")
        cmd.parser.add_option("-f", "--force", action="store_true", default=None,
                              help="classify items that have a genre already")
        cmd.parser.add_option("--min-confidence", type="float", default=None,
                              help="answers below this probability leave the item alone")
        cmd.func = self.command
        return [cmd]

    def command(self, lib, opts, args):
        items = list(lib.items(ui.decargs(args)))
        force = self.config["force"].get(bool) if opts.force is None else opts.force
        floor = self.config["min_confidence"].as_number() if opts.min_confidence is None else opts.min_confidence
        self.classify_items(items, force=force, floor=floor, pretend=opts.pretend, write=ui.should_write())

    def imported(self, session, task):
        self.classify_items(task.imported_items(), force=self.config["force"].get(bool),
                            floor=self.config["min_confidence"].as_number(), pretend=False,
                            write=session.config["write"].get(bool) if "write" in session.config else True)

    # -- classifying and storing ---------------------------------------------------------------------
    def classify_items(self, items, force, floor, pretend, write):
        field = self.config["field"].as_str()
        todo = [i for i in items if force or not _get(i, field)]
        skipped = len(items) - len(todo)
        if skipped:
            self._log.info("{0} items have a {1} already (--force classifies them too)", skipped, field)
        if not todo:
            return
        answers = self.classify([_path(i) for i in todo], floor)
        changed = unsure = failed = 0
        for item in todo:
            answer = answers.get(_path(item))
            if answer is None or "error" in answer:
                failed += 1
                self._log.warning("{0}: {1}", _path(item), (answer or {}).get("error", "no answer"))
                continue
            genre = answer.get("genre", "unknown")
            confidence = answer["ranked"][0]["probability"] if answer.get("ranked") else 0.0
            if genre == "unknown" or confidence < floor:
                unsure += 1
                self._log.info("{0}: unsure ({1}); left alone", _path(item),
                               answer.get("unknown_reason", "confidence %.2f" % confidence))
                continue
            value = self.render(genre, confidence)
            old = _get(item, field)
            ui.print_("{0}: {1} -> {2} ({3:.2f})".format(_path(item), old, value, confidence))
            if pretend:
                continue
            _set(item, field, value)
            item["genrenet_genre"] = genre
            item["genrenet_confidence"] = round(confidence, 4)
            if write:
                item.try_write()
            item.store()
            changed += 1
        self._log.info("{0} set, {1} unsure (left alone), {2} failed{3}", changed, unsure, failed,
                       " (pretend: nothing changed)" if pretend else "")

    def render(self, genre, confidence):
        fmt = self.config["format"].as_str()
        return fmt.replace("{genre}", genre).replace("{Genre}", genre[:1].upper() + genre[1:]).replace(
            "{confidence}", "%.2f" % confidence)

    def classify(self, paths, floor):
        """{path: genrenet's answer (its JSON form)} for every path, through the CLI or the service."""
        server = self.config["server"].as_str()
        if server:
            return {p: self.ask_server(server, p, floor) for p in paths}
        model = self.config["model"].as_filename() if self.config["model"].get() else ""
        if not model:
            raise ui.UserError("genrenet: set genrenet.model (a genrenet model file) in beets' config")
        binary = self.config["binary"].as_str()
        if not (os.path.sep in binary and os.access(binary, os.X_OK)) and not shutil.which(binary):
            raise ui.UserError("genrenet: the executable {0!r} is not found (set genrenet.binary)".format(binary))
        answers = {}
        for start in range(0, len(paths), BATCH):
            part = paths[start:start + BATCH]
            cmd = [binary, "predict", "--model", model, "--format", "jsonl", "--min-confidence", str(floor)]
            run = subprocess.run(cmd + ["--"] + part, capture_output=True, text=True)
            for line in run.stdout.splitlines():
                if line.startswith("{"):
                    answer = json.loads(line)
                    answers[answer["file"]] = answer
            if run.returncode not in (0, 1) or not answers:  # 1: some files were unreadable (their rows say why)
                raise ui.UserError("genrenet predict failed ({0}): {1}".format(run.returncode, run.stderr.strip()[-500:]))
        return answers

    def ask_server(self, server, path, floor):
        url = server.rstrip("/") + "/v1/classify?min_confidence=%g&name=%s" % (
            floor, urllib.request.quote(os.path.basename(path)))
        with open(syspath(path), "rb") as f:
            body = f.read()
        request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/octet-stream"})
        try:
            with urllib.request.urlopen(request, timeout=600) as r:
                return json.load(r)
        except urllib.error.HTTPError as e:
            try:
                return {"error": json.load(e).get("error", str(e))}
            except ValueError:
                return {"error": str(e)}
        except urllib.error.URLError as e:
            raise ui.UserError("genrenet: the service at {0} cannot be reached ({1})".format(server, e.reason))

#!/usr/bin/python3
"""End-to-end test of the web page of `genrenet serve`, in headless Chromium driven over WebDriver.

Trains a tiny model, serves it on 127.0.0.1, opens the page, uploads a synthesised clip through the file
input, waits for one bar per genre and the spectrogram picture, and saves a screenshot. Standard library only
(WebDriver is plain HTTP + JSON). Exit 0: passed; 77: Chromium or ChromeDriver is not installed (skipped).

    web_e2e.py GENRENET_EXE OUT_DIR [MODEL]     (MODEL: use this model instead of training a tiny one)
"""
import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(method, url, body=None, timeout=60):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        raise RuntimeError(f"{method} {url}: {e.code} {e.read()[:500]!r}") from None


def wait_until(what, check, seconds):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            value = check()
            if value:
                return value
        except (OSError, RuntimeError, KeyError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"timed out after {seconds} s waiting for {what}")


def main():
    exe, out_dir = sys.argv[1], sys.argv[2]
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    driver = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    if not (os.path.exists(chromium) and os.path.exists(driver)):
        print("SKIP: Debian's chromium and chromium-driver are not installed (scripts/install-deps.sh installs them)")
        return 77
    os.makedirs(out_dir, exist_ok=True)
    work = tempfile.mkdtemp(prefix="genrenet-web-")
    procs = []
    try:
        run = lambda *a: subprocess.run([exe, *a], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        model = sys.argv[3] if len(sys.argv) > 3 else f"{work}/run/best.safetensors"
        if len(sys.argv) <= 3:
            run("synth", "--out", f"{work}/data", "--per-class", "10", "--seconds", "1", "--seed", "2")
            run("train", "--data", f"{work}/data", "--out", f"{work}/run", "--cache", f"{work}/cache", "--epochs", "1",
                "--frames", "32", "--n-mels", "32", "--precision", "fp32")
            run("index", "build", "-m", model, "--out", f"{work}/index", f"{work}/data")
        clip = f"{work}/clip.wav"
        run("example-clip", "--seconds", "40", clip)

        library = ["--index", f"{work}/index"] if os.path.isdir(f"{work}/index") else []
        server = subprocess.Popen([exe, "serve", "--model", model, "--port", "0", "--quiet", *library],
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        procs.append(server)
        line = server.stdout.readline()
        if " on http://" not in line:
            raise RuntimeError("genrenet serve did not start: " + line + server.stdout.read())
        base = line.split(" on ")[1].split()[0].rstrip("/")
        wait_until("the server", lambda: call("GET", base + "/healthz")["status"] == "ok", 30)

        port = free_port()
        procs.append(subprocess.Popen([driver, f"--port={port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wd = f"http://127.0.0.1:{port}"
        wait_until("chromedriver", lambda: call("GET", wd + "/status")["value"]["ready"], 30)
        caps = {"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
            "binary": chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1100,1000", f"--user-data-dir={work}/profile"]}}}}
        session = call("POST", wd + "/session", caps)["value"]["sessionId"]
        s = f"{wd}/session/{session}"
        try:
            call("POST", s + "/url", {"url": base + "/"})
            find = lambda css: call("POST", s + "/element", {"using": "css selector", "value": css})["value"]
            element_id = lambda el: next(iter(el.values()))
            text_of = lambda css: call("GET", f"{s}/element/{element_id(find(css))}/text")["value"]
            wait_until("the model line", lambda: "genres" in text_of("#model"), 30)
            file_input = element_id(find("#file"))
            call("POST", f"{s}/element/{file_input}/value", {"text": clip})
            bars = wait_until("ten genre bars", lambda: len(call(
                "POST", s + "/elements", {"using": "css selector", "value": ".bar"})["value"]) == 10 or None, 120)
            shown = wait_until("the spectrogram", lambda: call(
                "POST", s + "/execute/sync",
                {"script": "const i = document.getElementById('spectrogram');"
                           "return i.style.display === 'block' && i.complete && i.naturalWidth > 0;", "args": []})["value"], 30)
            status = text_of("#status")
            if "clip.wav:" not in status or "window" not in status:
                raise RuntimeError("unexpected status line: " + status)
            if library:  # the "sounds like" list: the index's five nearest files
                wait_until("the sounds-like list", lambda: len(call(
                    "POST", s + "/elements", {"using": "css selector", "value": ".neighbour"})["value"]) == 5 or None, 60)
                if "similarity" not in text_of("#similar"):
                    raise RuntimeError("the sounds-like list does not show similarities: " + text_of("#similar"))
                # The library's map: every file a dot; pointing at one names its file (and its genre).
                points = wait_until("the library map", lambda: int(call("POST", s + "/execute/sync", {"script":
                    "return document.getElementById('map').dataset.points || '0';", "args": []})["value"]) or None, 60)
                hovered = call("POST", s + "/execute/sync", {"script":
                    "const c = document.getElementById('map'), b = c.getBoundingClientRect(), p = c.points[3];"
                    "c.dispatchEvent(new MouseEvent('mousemove', {clientX: b.left + p.px * b.width / c.width,"
                    " clientY: b.top + p.py * b.height / c.height}));"
                    "return [p.file, document.getElementById('map-hover').dataset.file, document.getElementById('map-hover').textContent];",
                    "args": []})["value"]
                if hovered[0] != hovered[1] or hovered[0] not in hovered[2]:
                    raise RuntimeError(f"pointing at a dot of the map did not name its file: {hovered}")
                map_shot = os.path.join(out_dir, "web-page-map.png")
                call("POST", s + "/execute/sync", {"script": "document.getElementById('map').scrollIntoView();", "args": []})
                with open(map_shot, "wb") as f:
                    f.write(base64.b64decode(call("GET", s + "/screenshot")["value"]))
                print(f"library map: {points} dots; pointing at one shows {hovered[2]!r} ({map_shot})")
            # The Grad-CAM toggle: the picture becomes the explanation (another image), and back.
            image_src = "return document.getElementById('spectrogram').src;"
            plain = call("POST", s + "/execute/sync", {"script": image_src, "args": []})["value"]
            call("POST", f"{s}/element/{element_id(find('#explain'))}/click", {})
            wait_until("the explanation", lambda: call("POST", s + "/execute/sync", {"script":
                "const i = document.getElementById('spectrogram');"
                "return document.body.dataset.explained === '1' && i.complete && i.naturalWidth > 0;", "args": []})["value"], 120)
            explained = call("POST", s + "/execute/sync", {"script": image_src, "args": []})["value"]
            explain_status = text_of("#status")
            if explained == plain or "why" not in explain_status:
                raise RuntimeError("the explanation did not replace the spectrogram: " + explain_status)
            explain_shot = os.path.join(out_dir, "web-page-explained.png")
            with open(explain_shot, "wb") as f:
                f.write(base64.b64decode(call("GET", s + "/screenshot")["value"]))
            call("POST", f"{s}/element/{element_id(find('#explain'))}/click", {})
            if call("POST", s + "/execute/sync", {"script": image_src, "args": []})["value"] != plain:
                raise RuntimeError("unticking the toggle did not bring the spectrogram back")
            widths = call("POST", s + "/execute/sync", {"script":
                "return [...document.querySelectorAll('.bar .fill')].map(f => parseFloat(f.style.width));", "args": []})["value"]
            if abs(sum(widths) - 100) > 1.0:
                raise RuntimeError(f"bar widths do not add up to 100%: {widths}")
            # Trust: the model line says the model is calibrated (train fits it on the validation clips), and a
            # confidence floor of 1 turns the answer into "unknown" with the ten candidates still shown.
            answer = lambda: call("POST", s + "/execute/sync", {"script":
                "return document.getElementById('answer').dataset.genre || '';", "args": []})["value"]
            if answer() in ("", "unknown"):
                raise RuntimeError("no genre answered before the confidence floor: " + answer())
            if "calibrated (temperature" not in text_of("#model"):
                raise RuntimeError("the model line does not show the calibration: " + text_of("#model"))
            field = element_id(find("#min-confidence"))
            call("POST", f"{s}/element/{field}/clear", {})
            call("POST", f"{s}/element/{field}/value", {"text": "1"})
            call("POST", s + "/execute/sync", {"script":
                "document.getElementById('min-confidence').dispatchEvent(new Event('change'));", "args": []})
            wait_until("the unknown answer", lambda: answer() == "unknown" and len(call(
                "POST", s + "/elements", {"using": "css selector", "value": ".bar"})["value"]) == 10, 120)
            unknown_text = text_of("#answer")
            if "below 1.000" not in unknown_text or "candidates" not in unknown_text:
                raise RuntimeError("the unknown answer does not say why: " + unknown_text)
            unknown_shot = os.path.join(out_dir, "web-page-unknown.png")
            with open(unknown_shot, "wb") as f:
                f.write(base64.b64decode(call("GET", s + "/screenshot")["value"]))
            png = base64.b64decode(call("GET", s + "/screenshot")["value"])
            if not png.startswith(b"\x89PNG") or len(png) < 10000:
                raise RuntimeError("the screenshot is not a PNG of a rendered page")
            shot = os.path.join(out_dir, "web-page.png")
            with open(shot, "wb") as f:
                f.write(png)
            print(f"web page: {status}; bars {bars and 10}, spectrogram {shown}; screenshot {shot} ({len(png)} bytes); "
                  f"explanation: {explain_status} ({explain_shot}); with a confidence floor of 1: "
                  f"{unknown_text!r} ({unknown_shot})")
        finally:
            call("DELETE", s)
        return 0
    finally:
        for p in procs:
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

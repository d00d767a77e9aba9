"""The JSON API against a real ``serve`` process with real render workers: concurrent uploads
and renders, refused uploads that leave nothing behind, the access token, restarts, deletes.
Clips are 2 s of a real talking head, so a render takes a few seconds."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import wave
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from clip_writer import write_clip
from support import animation, poll, synthetic_frames
from webserver import Server, servers

from obs_bgremover.render import RenderQueue, open_huey
from obs_bgremover.render.queue import DATA_ENV
from obs_bgremover.web.api import KEPT_PREVIEWS
from obs_bgremover.web.guard import allowed_hosts

ELSEWHERE_ID = "0123456789ab"  # well-formed, but no upload or job has it


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for the tests that need no server of their own, taking uploads up to 1 MB."""
    with servers(tmp_path_factory.mktemp("web")) as start:
        yield start("--max-upload-mb", "1")


def frames_of(data: bytes, tmp_path: Path) -> int:
    path = tmp_path / "check.mp4"
    path.write_bytes(data)
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def queue_of(server: Server, monkeypatch: pytest.MonkeyPatch) -> RenderQueue:
    """The server's render queue, opened from the test as another process would."""
    monkeypatch.setenv(DATA_ENV, str(server.data))
    return RenderQueue(open_huey())


# -- uploads that are refused ---------------------------------------------------------------


def _wav(path: Path) -> bytes:
    """A second of silence as a WAV file: a real media file, but sound only."""
    with wave.open(str(path), "wb") as file:
        file.setnchannels(1)
        file.setsampwidth(2)
        file.setframerate(8000)
        file.writeframes(bytes(16000))
    return path.read_bytes()


BAD_UPLOADS = {
    "text-named-mp4": (lambda clip, tmp: b"milk, eggs, bread\n" * 100, "notes.mp4", 422,
                       ['"notes.mp4" is not a video or image FFmpeg can read',
                        "accepted: a video in MP4, MOV, M4V, MKV, WebM or AVI"]),
    "truncated-mp4": (lambda clip, tmp: clip.read_bytes()[: clip.stat().st_size // 2],
                      "cut.mp4", 422, ['"cut.mp4" is a damaged or truncated MP4/MOV file']),
    "oversized": (lambda clip, tmp: os.urandom(1536 * 1024), "big.mp4", 413,
                  ['"big.mp4" is 1.5 MB, more than this server takes (1 MB)']),
    "wav": (lambda clip, tmp: _wav(tmp / "voice.wav"), "voice.wav", 422,
            ['"voice.wav" is WAV / WAVE (Waveform Audio), which is not accepted',
             "accepted: a video in MP4"]),
    "image-as-clip": (lambda clip, tmp: (Path(__file__).parents[2] / "obs_bgremover" / "assets"
                                         / "backgrounds" / "studio.jpg").read_bytes(),
                      "photo.jpg", 422, ['"photo.jpg" is a still JPEG image: a video render '
                                         "needs a video; accepted: a video in MP4"]),
    "path-traversal": (lambda clip, tmp: clip.read_bytes(), "../../../etc/evil.mp4", 400,
                       ["the file name '../../../etc/evil.mp4' is not a plain file name"]),
    "windows-path": (lambda clip, tmp: clip.read_bytes(), "..\\..\\evil.mp4", 400,
                     ["is not a plain file name"]),
    # Shown as "4pm.png" in the uploads table (a right-to-left override).
    "right-to-left": (lambda clip, tmp: clip.read_bytes(), "\u202egnp.mp4", 400,
                      ["is not a plain file name"]),
    "blank": (lambda clip, tmp: clip.read_bytes(), "   ", 400, ["is not a plain file name"]),
    # Once a 422 from FastAPI's own length check, where web.md promises 400.
    "long-name": (lambda clip, tmp: clip.read_bytes(), "a" * 252 + ".mp4", 400,
                  ["is not a plain file name: it must be 1 to 255 characters"]),
}


@pytest.mark.parametrize("case", BAD_UPLOADS.values(), ids=BAD_UPLOADS.keys())
def test_a_refused_upload_says_why_and_leaves_nothing(
    case: tuple, server: Server, talking_head: Path, tmp_path: Path,
) -> None:
    make, name, status, messages = case
    before = server.files()
    answer = server.upload(make(talking_head, tmp_path), name)
    assert answer.status == status, answer.body
    for message in messages:
        assert message in answer.detail
    assert str(server.data) not in answer.detail  # the server's paths are not the user's business
    assert "for a preview" not in answer.detail  # the render command's words: the app takes none
    assert server.files() == before
    assert not list((server.data / "web" / "tmp").iterdir())



def test_a_background_too_large_is_not_told_to_cut_a_clip_shorter(server: Server) -> None:
    """A picture too large to upload as background was told that only the first 10 s of a clip
    are rendered, and to cut it shorter."""
    answer = server.upload(os.urandom(1536 * 1024), "wall.png", purpose="background")
    assert answer.status == 413, answer.body
    assert answer.detail == ('"wall.png" is 1.5 MB, more than this server takes (1 MB). '
                             "Use a smaller picture or a shorter video.")

def test_the_content_decides_not_the_name(server: Server, talking_head: Path) -> None:
    answer = server.upload(talking_head, "holiday notes.txt")
    assert answer.status == 201, answer.body
    upload = answer.json()
    assert (upload["name"], upload["kind"], upload["format"]) == (
        "holiday notes.txt", "video", "MP4/MOV/M4V")
    assert (upload["width"], upload["height"], upload["audio"]) == (524, 524, True)
    folder = server.data / "web" / "uploads" / upload["id"]
    assert sorted(path.name for path in folder.iterdir()) == ["source", "upload.json"]


def test_jobs_refuse_what_they_cannot_render(server: Server, talking_head: Path) -> None:
    clip = server.upload(talking_head, "clip.mp4").json()["id"]
    background = server.upload(talking_head, "bg.mp4", purpose="background").json()["id"]

    def refused(**job: object) -> str:
        answer = server.post_json("/api/jobs", {"upload": clip, "background": "studio", **job})
        assert answer.status in (404, 422), answer.body
        return answer.detail

    assert "background '/etc/passwd' is not one of: a built-in name (studio" in refused(
        background="/etc/passwd")
    assert "blur strength '500' is not a whole number in 1..100" in refused(background="blur:500")
    assert "colour '#12' is not of the form #RRGGBB" in refused(background="color:#12")
    assert f"there is no background upload '{clip}'" in refused(background=f"upload:{clip}")
    # A background deleted, as the page that picked it still names it: not in the API's terms.
    gone = server.upload(talking_head, "gone.mp4", purpose="background").json()["id"]
    assert server.request("DELETE", f"/api/uploads/{gone}").status == 204
    assert refused(background=f"upload:{gone}") == (
        f"your background '{gone}' is no longer on the server (it was deleted): upload your "
        "image or video again, or pick another background")
    assert "a preview's time must be from 0 to under 2.00 s" in refused(kind="preview", at=2.5)
    assert '"bg.mp4" was uploaded as a background' in refused(upload=background)
    assert f"there is no upload {ELSEWHERE_ID}" in refused(upload=ELSEWHERE_ID)
    assert refused(upload="../../etc") == "there is no upload ../../etc"  # as web.md says
    assert "kind: Input should be 'preview' or 'video'" in refused(kind="gif")
    assert server.get("/api/jobs").json() == []


def test_an_animated_gif_background_plays(server: Server, talking_head: Path,
                                          tmp_path: Path) -> None:
    """A GIF is taken as a background (an animated one plays in a loop), but not as a clip."""
    red, blue = (np.full((90, 160, 3), colour, np.uint8) for colour in ((230, 0, 0), (0, 0, 230)))
    gif = animation(tmp_path / "loop.gif", "gif", [red, blue], fps=2)
    answer = server.upload(gif, "loop.gif")
    assert answer.status == 422 and '"loop.gif" is an animated GIF image: a video render' in (
        answer.detail)
    clip = server.upload(talking_head, "clip.mp4").json()["id"]
    background = server.upload(gif, "loop.gif", purpose="background").json()["id"]
    corners = []
    for at in (0.0, 0.6):
        preview = server.wait(server.job(clip, f"upload:{background}", "preview", at)["id"])
        assert preview["status"] == "done", preview
        image = cv2.imdecode(np.frombuffer(server.get(preview["result_url"]).body, np.uint8),
                             cv2.IMREAD_COLOR)
        corners.append(image[:16, :16].reshape(-1, 3).mean(axis=0)[::-1])  # as RGB
    assert np.abs(corners[0] - (230, 0, 0)).max() < 40, corners
    assert np.abs(corners[1] - (0, 0, 230)).max() < 40, corners
    for upload in (background, clip):  # and their jobs: the server is shared with other tests
        assert server.request("DELETE", f"/api/uploads/{upload}").status == 204


def test_a_picture_of_too_many_pixels_is_refused(server: Server, tmp_path: Path) -> None:
    """A PNG of one colour is small at any size: a 12000x12000 one of 445 KB was taken as a
    background, and each preview over it took 8 s and a gigabyte of memory."""
    path = tmp_path / "huge.png"
    cv2.imwrite(str(path), np.zeros((6000, 9000, 3), np.uint8))
    before = server.files()
    answer = server.upload(path, "huge.png", purpose="background")
    assert answer.status == 422, answer.body
    assert answer.detail == ('"huge.png" is 9000x6000, 54.0 megapixels: more than this server '
                             "takes (50 megapixels). Scale it down and upload it again.")
    assert server.files() == before


def test_one_frame_is_kept_once_whatever_time_asks_for_it(server: Server,
                                                          talking_head: Path) -> None:
    """The frame cache was keyed by the millisecond: 20 times within one frame made 20 copies
    of it, and a 10 s clip could leave 10,000 files."""
    clip = server.upload(talking_head, "clip.mp4").json()["id"]  # 25 frames a second
    for at in (0.001, 0.01, 0.019, 0.03, 0.059):
        assert server.get(f"/api/uploads/{clip}/frame?at={at}").status == 200
    frames = server.data / "web" / "uploads" / clip / "frames"
    assert sorted(path.name for path in frames.iterdir()) == ["0.jpg", "1.jpg"]
    assert server.request("DELETE", f"/api/uploads/{clip}").status == 204


def test_host_names_are_case_insensitive(server: Server) -> None:
    """``LOCALHOST`` is this machine, as ``localhost`` is; it was refused."""
    host = f"LOCALHOST:{server.port}"
    assert server.request("GET", "/api/limits", headers={"Host": host}).status == 200
    same_site = server.request("POST", "/api/jobs", b"{}",
                               {"Host": host, "Origin": f"http://{host}",
                                "Content-Type": "application/json"})
    assert same_site.status == 422, (same_site.status, same_site.detail)


def test_other_sites_and_host_names_are_refused(server: Server, talking_head: Path) -> None:
    evil = server.request("GET", "/api/jobs", headers={"Host": "evil.example:80"})
    assert evil.status == 400 and "does not answer for the host" in evil.detail
    before = server.files()
    cross_site = server.request("POST", "/api/uploads?name=x.mp4", talking_head.read_bytes(),
                                {"Origin": "http://evil.example"})
    assert cross_site.status == 403 and "from another site" in cross_site.detail
    assert server.files() == before
    # The page served through a proxy that adds TLS (web.md's advice off a trusted network).
    proxied = server.request("POST", "/api/jobs", b"{}",
                             {"Origin": f"https://127.0.0.1:{server.port}",
                              "Content-Type": "application/json"})
    assert proxied.status == 422, (proxied.status, proxied.detail)


def test_the_openapi_document_describes_the_api(server: Server) -> None:
    document = server.get("/api/openapi.json").json()
    assert document["info"]["title"] == "obs-bgremover"
    assert {path: sorted(methods) for path, methods in document["paths"].items()} == {
        "/api/limits": ["get"],
        "/api/backgrounds": ["get"],
        "/api/backgrounds/{name}/thumbnail": ["get"],
        "/api/uploads": ["get", "post"],
        "/api/uploads/{upload_id}": ["delete", "get"],
        "/api/uploads/{upload_id}/frame": ["get"],
        "/api/jobs": ["get", "post"],
        "/api/jobs/{job_id}": ["delete", "get"],
        "/api/jobs/{job_id}/stop": ["post"],
        "/api/jobs/{job_id}/result": ["get"],
        "/api/jobs/{job_id}/cutout": ["get"],
    }
    upload = document["paths"]["/api/uploads"]["post"]
    assert "application/octet-stream" in upload["requestBody"]["content"]
    assert {"413", "422"} <= upload["responses"].keys()


def job_folders(server: Server) -> set[Path]:
    """The job folders on the server (shared with the module's other tests)."""
    return set((server.data / "web" / "jobs").iterdir())


def test_deleting_removes_the_files(server: Server, talking_head: Path) -> None:
    others = job_folders(server)
    clip = server.upload(talking_head, "clip.mp4").json()["id"]
    preview = server.wait(server.job(clip, "color:#00B140", kind="preview", at=1.0)["id"])
    assert preview["status"] == "done", preview
    cutout = server.get(preview["cutout_url"])
    assert cutout.status == 200 and cutout.body.startswith(b"\x89PNG")
    folder = next(path.parent for path in (server.data / "web" / "jobs").rglob("preview.png"))
    assert server.request("DELETE", f"/api/jobs/{preview['id']}").status == 204
    assert not folder.exists()
    assert server.get(f"/api/jobs/{preview['id']}").status == 404
    assert server.get(preview["result_url"]).status == 404
    assert server.request("DELETE", f"/api/jobs/{preview['id']}").status == 404

    server.get(f"/api/uploads/{clip}/frame?at=0.5")  # a cached frame goes with its upload
    second = server.wait(server.job(clip, "dusk", kind="preview")["id"])
    assert server.request("DELETE", f"/api/uploads/{clip}").status == 204
    assert not (server.data / "web" / "uploads" / clip).exists()
    assert server.get(f"/api/jobs/{second['id']}").status == 404
    assert job_folders(server) == others  # its jobs' folders went with it


def test_a_result_answers_head_and_a_malformed_id_is_unknown(server: Server,
                                                             talking_head: Path) -> None:
    """HEAD on a result (and a cut-out) was 405, which download managers and link checkers
    take for a broken link; and an id that is not one answered 422 where an unknown one
    answers 404."""
    clip = server.upload(talking_head, "clip.mp4").json()["id"]
    preview = server.wait(server.job(clip, "dusk", kind="preview")["id"])
    for url in (preview["result_url"], preview["cutout_url"]):
        head = server.request("HEAD", url)
        assert (head.status, head.body) == (200, b""), url
        assert int(head.headers["content-length"]) == len(server.get(url).body)
    for path, detail in [("/api/jobs/zzz", "there is no job zzz"),
                         ("/api/jobs/zzz/result", "there is no job zzz"),
                         ("/api/uploads/XYZ", "there is no upload XYZ")]:
        answer = server.get(path)
        assert (answer.status, answer.detail) == (404, detail)


def test_a_file_the_server_cannot_write_is_answered_in_json(
        serve: Callable[..., Server], talking_head: Path) -> None:
    """Where the server's own files fail it (here its jobs folder replaced by a file; a full
    disk is the usual cause), a job was answered with a plain-text 500 and a traceback."""
    server = serve("--workers", "0")
    clip = server.upload(talking_head, "clip.mp4").json()["id"]
    jobs = server.data / "web" / "jobs"
    jobs.rmdir()
    jobs.write_bytes(b"")
    answer = server.post_json("/api/jobs", {"upload": clip, "background": "studio"})
    assert (answer.status, answer.detail) == (
        500, "the server could not use its files (Not a directory)")
    assert str(server.data) not in answer.body.decode()


def test_the_job_list_keeps_a_kind_an_upload_and_the_newest(
    serve: Callable[..., Server], talking_head: Path
) -> None:
    """The jobs page asked for every job at every refresh: a second at 2000 jobs. It asks for
    the newest it shows, and a question about an upload for that upload's jobs."""
    server = serve("--workers", "0")  # nobody renders: the jobs stay queued, in order
    clip, other = (server.upload(talking_head, name).json()["id"]
                   for name in ("talk.mp4", "other.mp4"))
    _, png = cv2.imencode(".png", np.full((90, 160, 3), (0, 128, 0), np.uint8))
    wall = server.upload(png.tobytes(), "wall.png", "background").json()["id"]
    jobs = [server.job(clip, "dusk")["id"], server.job(other, f"upload:{wall}")["id"],
            server.job(clip, "studio", kind="preview")["id"], server.job(other, "dusk")["id"]]

    def listed(query: str) -> list[str]:
        answer = server.get(f"/api/jobs{query}")
        assert answer.status == 200, answer.body
        return [job["id"] for job in answer.json()]

    assert listed("") == jobs
    assert listed("?limit=2") == jobs[2:]
    assert listed("?limit=9") == jobs
    assert listed("?kind=video&limit=2") == [jobs[1], jobs[3]]
    assert listed(f"?upload={clip}") == [jobs[0], jobs[2]]
    assert listed(f"?upload={wall}") == [jobs[1]]
    assert listed(f"?upload={other}&kind=video&limit=1") == [jobs[3]]
    assert server.get(f"/api/jobs?upload={ELSEWHERE_ID}").detail == (
        f"there is no upload {ELSEWHERE_ID}")
    assert server.get("/api/jobs?limit=0").status == 422
    # An id that is not one is answered as an unknown one is (web.md), in a query or a body
    # too, where it was a 422 "upload: String should match pattern ...".
    assert server.get("/api/jobs?upload=../x").detail == "there is no upload ../x"
    made = server.post_json("/api/jobs", {"upload": "xyz", "kind": "video", "background": "dusk"})
    assert (made.status, made.detail) == (404, "there is no upload xyz")


def test_a_redis_queue_that_does_not_answer_is_a_json_503(
    serve: Callable[..., Server], redis_url: str, talking_head: Path
) -> None:
    """Redis restarting: the API answered plain-text 500s and the page gave up on a render
    that then finished. A 503 is what the page takes for a server away for a moment, and asks
    again."""
    server = serve("--workers", "0", "--queue", redis_url)
    clip = server.upload(talking_head, "talk.mp4").json()["id"]
    job = server.job(clip, "dusk")["id"]
    open_huey(redis_url).storage.conn.shutdown(nosave=True)
    for path in (f"/api/jobs/{job}", "/api/jobs?limit=5"):
        answer = server.get(path)
        assert answer.status == 503, answer.body
        assert answer.detail.startswith("the server's render queue does not answer (")
    refused = server.post_json("/api/jobs", {"upload": clip, "kind": "video",
                                             "background": "dusk", "at": 0})
    assert refused.status == 503, refused.body


def test_a_damaged_sqlite_queue_is_a_json_500_naming_it(serve: Callable[..., Server]) -> None:
    """queue.db replaced by a file that is no database (a bad copy, a restore gone wrong):
    SQLite's "database disk image is malformed" came back as a plain-text 500 and a
    traceback, where its "disk is full" was answered as JSON."""
    server = serve("--workers", "0")
    assert server.get("/api/jobs").status == 200
    (server.data / "queue.db").write_bytes(bytes(range(256)) * 8)  # in place: the same file
    answer = server.get("/api/jobs")
    assert answer.status == 500, answer.body
    assert answer.detail.startswith("the server could not use its render queue ("), answer.body


def test_a_stop_during_an_upload_answers_it_and_logs_no_traceback(
    serve: Callable[..., Server]
) -> None:
    """Ctrl+C while a clip was uploading: once the server's wait for running requests was
    over, the upload got a plain-text 500 and the log an "Exception in ASGI application"
    traceback at a normal stop."""
    server = serve("--workers", "0")
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    connection.putrequest("POST", "/api/uploads?name=long.mp4")
    connection.putheader("Content-Type", "application/octet-stream")
    connection.putheader("Content-Length", str(100_000_000))
    connection.endheaders()
    connection.send(os.urandom(1_000_000))  # and the rest never comes
    time.sleep(0.5)
    log = server.stop()
    answer = connection.getresponse()
    body = answer.read()
    assert answer.status == 503, body
    assert json.loads(body)["detail"].startswith(
        'the server stopped while "long.mp4" was uploading; upload it again'), body
    assert "Traceback" not in log, log
    assert not list((server.data / "web" / "uploads").iterdir())


def test_stops_and_a_delete_of_one_job_at_once_answer_what_happened(
    serve: Callable[..., Server], talking_head: Path
) -> None:
    """A page's Stop racing another tab's Stop and Delete: a stop that found the job gone
    answered a plain-text 500 ('NoneType' object has no attribute 'input'), 18 times in 180."""
    server = serve("--workers", "0")
    clip = server.upload(talking_head, "talk.mp4").json()["id"]

    def delete(job: str) -> int:
        while (status := server.request("DELETE", f"/api/jobs/{job}").status) == 409:
            time.sleep(0.01)
        return status

    answers = []
    with ThreadPoolExecutor(4) as pool:
        for _ in range(20):
            job = server.job(clip, "dusk")["id"]
            stops = [pool.submit(server.request, "POST", f"/api/jobs/{job}/stop")
                     for _ in range(3)]
            answers.append(pool.submit(delete, job).result())
            answers += [stop.result().status for stop in stops]
    assert set(answers) <= {200, 204, 404, 409}, answers


def test_a_frame_asked_for_while_its_upload_goes_is_a_404(
    serve: Callable[..., Server], talking_head: Path
) -> None:
    """Frames asked for as their upload was deleted answered 422 naming the server's paths
    ("cannot write .../uploads/ID/frames/60.jpg": its folder went before its upload.json), or
    a 200 cut short."""
    server = serve("--workers", "0")
    for _ in range(6):
        clip = server.upload(talking_head, "talk.mp4").json()["id"]
        with ThreadPoolExecutor(5) as pool:
            frames = [pool.submit(server.get, f"/api/uploads/{clip}/frame?at={at / 10}")
                      for at in range(5)]
            time.sleep(0.05)
            assert server.request("DELETE", f"/api/uploads/{clip}").status == 204
            for answer in (frame.result() for frame in frames):
                assert answer.status in (200, 404), answer.body
                assert answer.status == 404 or answer.body.startswith(b"\xff\xd8"), answer.body


def test_a_running_job_cannot_be_deleted(serve: Callable[..., Server],
                                         talking_head: Path) -> None:
    server = serve("--workers", "0")
    clip = server.upload(talking_head, "clip.mp4").json()["id"]
    job = server.job(clip, "studio")
    answer = server.request("DELETE", f"/api/jobs/{job['id']}")
    assert answer.status == 409
    assert f"job {job['id']} is queued; it can be deleted once it has finished" in answer.detail
    assert server.request("DELETE", f"/api/uploads/{clip}").status == 409



@pytest.mark.parametrize("servers_on_the_folder", [1, 2])
def test_no_job_is_made_from_an_upload_while_it_is_deleted(
    servers_on_the_folder: int, serve: Callable[..., Server], talking_head: Path
) -> None:
    """Deleting an upload with many jobs takes a while; a job made from it meanwhile outlived
    it, its background then shown as the server's path. Either the job comes first (and the
    upload, in use, stays) or the deletion does (and the job is refused). So too where the job
    is made on another server on the same data folder (web.md has two such servers)."""
    server = serve("--workers", "0")
    maker = server
    if servers_on_the_folder == 2:
        maker = Server(server.data, ["--workers", "0"]).start()
    try:
        _make_during_a_delete(server, maker, talking_head)
    finally:
        if maker is not server:
            maker.stop()


def _make_during_a_delete(server: Server, maker: Server, talking_head: Path) -> None:
    clip = server.upload(talking_head, "clip.mp4").json()["id"]
    background = server.upload(talking_head, "bg.mp4", purpose="background").json()["id"]
    for _ in range(150):
        job = server.job(clip, f"upload:{background}")
        assert server.request("POST", f"/api/jobs/{job['id']}/stop").status == 200
    deleted: list[int] = []
    deleting = threading.Thread(target=lambda: deleted.append(
        server.request("DELETE", f"/api/uploads/{background}").status))
    deleting.start()
    time.sleep(0.05)
    made = maker.post_json("/api/jobs", {"upload": clip, "background": f"upload:{background}"})
    deleting.join()
    assert (made.status, deleted) in ((201, [409]), (422, [204])), (made.status, deleted)
    if made.status == 201:
        assert server.get(f"/api/jobs/{made.json()['id']}").json()["background"] != str(
            server.data / "web" / "uploads" / background / "source")


def test_a_running_job_can_be_stopped(serve: Callable[..., Server], shared_data: Path) -> None:
    """Stopped mid-render, a job fails with the reason, its render stops within seconds and
    leaves no file behind, and the worker goes on to the next job."""
    server = serve("--workers", "1")
    clip = server.upload(shared_data / "talking-heads" / "speaker5.mp4", "clip.mp4").json()["id"]
    job = server.job(clip, "studio")
    deadline = time.monotonic() + 60
    while (state := server.get(f"/api/jobs/{job['id']}").json())["progress"] <= 0:
        assert state["status"] in ("queued", "running") and time.monotonic() < deadline, state
        time.sleep(0.05)
    answer = server.request("POST", f"/api/jobs/{job['id']}/stop")
    assert answer.status == 200, answer.body
    assert (answer.json()["status"], answer.json()["error"]) == ("stopped",
                                                                 "Stopped from the web page")
    jobs = server.data / "web" / "jobs"
    left = poll(lambda: [path.name for path in jobs.rglob("*") if path.is_file()],
                lambda files: files == [], timeout=10)
    assert left == [], "the stopped render left files behind"
    again = server.request("POST", f"/api/jobs/{job['id']}/stop")
    assert again.status == 409 and "has finished (stopped)" in again.detail
    # Not "its result comes when it is done": it never will be.
    result = server.get(f"/api/jobs/{job['id']}/result")
    assert (result.status, result.detail) == (409, f"job {job['id']} was stopped: it has no result")
    assert server.wait(server.job(clip, "dusk", kind="preview")["id"])["status"] == "done"
    assert server.request("DELETE", f"/api/jobs/{job['id']}").status == 204


# -- many at once, restarts -----------------------------------------------------------------


def test_three_uploads_at_once_each_render_once(
    serve: Callable[..., Server], talking_head: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = serve()

    def upload_and_render(n: int) -> dict:
        upload = server.upload(talking_head, f"clip{n}.mp4")
        assert upload.status == 201, upload.body
        return server.wait(server.job(upload.json()["id"], "bokeh")["id"], timeout=90)

    with ThreadPoolExecutor(3) as pool:
        jobs = list(pool.map(upload_and_render, range(3)))
    assert [job["status"] for job in jobs] == ["done"] * 3, jobs
    assert [job["attempt"] for job in jobs] == [1, 1, 1]
    assert sorted(job["clip"] for job in jobs) == ["clip0.mp4", "clip1.mp4", "clip2.mp4"]
    assert len({job["upload"] for job in jobs}) == 3
    queue = queue_of(server, monkeypatch)
    done = [key for key in queue.huey.storage.result_items() if key.startswith("done:")]
    assert sorted(done) == sorted(f"done:{job['id']}" for job in jobs)
    folders = list((server.data / "web" / "jobs").iterdir())
    assert sorted(path.name for folder in folders for path in folder.iterdir()) == [
        "result.mp4"] * 3
    for job in jobs:
        assert frames_of(server.get(job["result_url"]).body, tmp_path) == 50


def test_a_restart_keeps_jobs_and_results(
    serve: Callable[..., Server], talking_head: Path, shared_data: Path, tmp_path: Path,
) -> None:
    server = serve("--workers", "1")
    clip = server.upload(talking_head, "clip.mp4").json()["id"]
    done = server.wait(server.job(clip, "waves")["id"])
    result = server.get(done["result_url"]).body
    preview = server.wait(server.job(clip, "blur", kind="preview", at=0.5)["id"])

    # A render cut off by the stop is queued again at once and finishes after the restart.
    long_clip = server.upload(shared_data / "talking-heads" / "speaker5.mp4", "long.mp4").json()
    cut = server.job(long_clip["id"], "studio")
    deadline = time.monotonic() + 30
    while server.get(f"/api/jobs/{cut['id']}").json()["progress"] == 0:
        assert time.monotonic() < deadline, "the render never started"
        time.sleep(0.1)
    assert "stopped 1 running job(s)" in server.stop()
    assert not list((server.data / "web" / "jobs").rglob(".obs-bgremover-*"))

    # With no workers, a job queued now waits for the next start.
    server.args = ["--workers", "0"]
    server.start()
    waiting = server.job(clip, "color:#FF8800")
    assert server.get(f"/api/jobs/{cut['id']}").json()["status"] == "queued"
    server.stop()

    server.args = ["--workers", "1"]
    server.start()
    assert server.get(f"/api/jobs/{done['id']}").json() == done
    assert server.get(f"/api/jobs/{preview['id']}").json() == preview
    assert server.get(done["result_url"]).body == result
    assert server.wait(waiting["id"])["status"] == "done"
    finished = server.wait(cut["id"], timeout=90)
    assert (finished["status"], finished["attempt"]) == ("done", 2)
    assert frames_of(server.get(finished["result_url"]).body, tmp_path) == 122
    assert [job["id"] for job in server.get("/api/jobs").json()] == [
        done["id"], preview["id"], cut["id"], waiting["id"]]


# -- the access token -----------------------------------------------------------------------


def _without_redirects(server: Server, path: str, headers: dict[str, str] | None = None
                       ) -> http.client.HTTPResponse:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    connection.request("GET", path, headers=headers or {})
    response = connection.getresponse()
    response.read()
    connection.close()
    return response


def test_off_this_machine_every_request_needs_the_token(serve: Callable[..., Server]) -> None:
    server = serve("--host", "0.0.0.0", "--workers", "0")
    assert server.token and len(server.token) >= 32
    assert f":{server.port}/?token={server.token}" in server.output
    document = server.get("/api/openapi.json").json()
    values = {"{job_id}": ELSEWHERE_ID, "{upload_id}": ELSEWHERE_ID, "{name}": "studio"}
    requests = [("GET", "/"), ("GET", "/jobs"), ("GET", "/static/index.js"),
                ("GET", "/api/openapi.json"), ("GET", "/nowhere")]
    for path, methods in document["paths"].items():
        for key, value in values.items():
            path = path.replace(key, value)
        requests += [(method.upper(), path) for method in methods]
    assert len(requests) == 20
    for method, path in requests:
        for headers in ({}, {"Authorization": "Bearer wrong-token-of-enough-length"},
                        {"Cookie": f"obs-bgremover-token-{server.port}=wrong"},
                        # compare_digest refused non-ASCII strings: a 500 for anyone.
                        {"Authorization": "Bearer " + "\u00e9" * 32}):
            answer = server.request(method, path, b"" if method == "POST" else None, headers,
                                    token=False)
            assert answer.status == 401, (method, path, answer.status)
            assert "needs its access token" in answer.detail
    assert server.request("GET", "/?token=nope", token=False).status == 401
    assert server.get("/api/limits").status == 200
    assert server.request("GET", f"/api/limits?token={server.token}", token=False).status == 200
    # The scheme is case-insensitive; a token with no scheme is not a bearer token.
    for header, status in ((f"bearer {server.token}", 200), (server.token, 401)):
        answer = server.request("GET", "/api/limits", None, {"Authorization": header},
                                token=False)
        assert answer.status == status, header

    # A browser opens the printed address: it gets a cookie and the address without the token.
    opened = _without_redirects(server, f"/jobs?token={server.token}")
    assert opened.status == 303 and opened.getheader("location") == "/jobs"
    cookie = opened.getheader("set-cookie")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert _without_redirects(server, "/jobs", {"Cookie": cookie.split(";")[0]}).status == 200
    # Never to another site: "//evil.example/x" reads as one, and with the cookie any
    # ?token= value sent the browser there (an open redirect).
    stay = _without_redirects(server, f"//evil.example/x?token={server.token}")
    assert stay.status == 303 and stay.getheader("location") == "/evil.example/x"
    elsewhere = _without_redirects(server, "//evil.example/x?token=x",
                                   {"Cookie": cookie.split(";")[0]})
    assert elsewhere.status == 404 and elsewhere.getheader("location") is None


@pytest.mark.parametrize(("options", "message"), [
    (("--token", "abc"), "--token must be at least 16 characters long"),
    # Accepted, it once made every request that carried it a 500.
    (("--token", "\u00e9" * 16),
     "--token must be letters, digits and punctuation (ASCII, no spaces)"),
    # An OverflowError's traceback.
    (("--port", "70000"), "--port must be from 0 to 65535, got 70000"),
], ids=["short-token", "non-ascii-token", "port"])
def test_a_weak_token_or_a_port_that_is_none_is_refused(options: tuple[str, str], message: str,
                                                         tmp_path: Path) -> None:
    started = subprocess.run(
        [sys.executable, "-m", "obs_bgremover", "serve", "--host", "0.0.0.0", *options],
        env={**os.environ, DATA_ENV: str(tmp_path)}, capture_output=True, text=True, timeout=30)
    assert started.returncode == 2
    assert message in started.stderr


def test_on_this_machine_no_token_is_needed(server: Server) -> None:
    assert server.token is None
    assert f"open http://127.0.0.1:{server.port}/\n" in server.output
    assert server.get("/").status == 200
    query = urllib.parse.urlencode({"at": 0})
    assert server.get(f"/api/uploads/{ELSEWHERE_ID}/frame?{query}").status == 404
    # Once an OverflowError (its milliseconds are infinite): a 500.
    assert server.get(f"/api/uploads/{ELSEWHERE_ID}/frame?at=1e306").status == 422


@pytest.mark.parametrize(("stop", "after"), [(signal.SIGINT, 0.0), (signal.SIGHUP, 1.0)],
                         ids=["ctrl-c-at-once", "terminal-closed"])
def test_a_stop_stops_it(stop: signal.Signals, after: float, tmp_path: Path) -> None:
    """A signal as soon as the address is printed, before uvicorn has started, still stops it.
    A closed terminal (SIGHUP) once left it serving: huey's consumer had taken the signal for a
    main loop of its own, which does not run here, and uvicorn does not handle it."""
    process = subprocess.Popen(
        [sys.executable, "-m", "obs_bgremover", "serve", "--port", "0", "--workers", "1"],
        env={**os.environ, DATA_ENV: str(tmp_path)}, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    try:
        assert "open http://127.0.0.1:" in process.stdout.readline()
        time.sleep(after)
        process.send_signal(stop)
        assert process.wait(15) == 0
        assert "Traceback" not in process.stderr.read()
    finally:
        process.kill()
        process.wait()
        process.stdout.close()
        process.stderr.close()


def test_on_port_80_the_host_header_may_leave_the_port_out() -> None:
    """Browsers and curl send ``Host: localhost`` for http://localhost:80/; the server once
    refused the very address it printed."""
    assert {"127.0.0.1", "localhost", "127.0.0.1:80"} <= allowed_hosts("127.0.0.1", 80)
    assert "localhost" not in allowed_hosts("127.0.0.1", 8765)


def test_a_clip_that_declares_no_length_is_measured(server: Server, tmp_path: Path) -> None:
    """A WebM a browser records, a stream written to a pipe: the file holds no length. The app
    took it as 0 s long, refused every preview ("from 0 to under 0.00 s") and counted its
    render as 0 of 1 frames."""
    clip = write_clip(tmp_path / "recorded.mkv", synthetic_frames(20), 10,
                      container={"live": "1"})
    upload = server.upload(clip, "recorded.mkv")
    assert upload.status == 201, upload.body
    assert upload.json()["render_seconds"] == pytest.approx(2.0, abs=0.15)
    preview = server.wait(server.job(upload.json()["id"], "studio", "preview", 1.5)["id"])
    assert preview["status"] == "done", preview
    video = server.wait(server.job(upload.json()["id"], "studio")["id"])
    assert (video["status"], video["frames_total"]) == ("done", 20), video
    assert server.request("DELETE", f"/api/uploads/{upload.json()['id']}").status == 204


def test_an_upload_cut_off_leaves_nothing_and_no_traceback(server: Server,
                                                          talking_head: Path) -> None:
    """A user who cancels an upload closes the connection half way; each such upload once
    wrote some 65 lines of traceback into the server's log, as if it had crashed."""
    before, printed = server.files(), server.output.count("Traceback")
    head = (f"POST /api/uploads?name=cut.mp4 HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
            "Content-Type: application/octet-stream\r\nContent-Length: 1000000\r\n\r\n")
    with socket.create_connection(("127.0.0.1", server.port)) as connection:
        connection.sendall(head.encode() + talking_head.read_bytes()[:100_000])
    time.sleep(1.0)  # the server notices the closed connection
    assert server.files() == before
    assert server.output.count("Traceback") == printed, server.output[-3000:]


def test_a_download_keeps_the_clips_name_in_any_script(server: Server, talking_head: Path
                                                       ) -> None:
    """A Russian or Japanese clip name once vanished from the download's name, and "(2)" made
    a double hyphen."""
    upload = server.upload(talking_head, 'видео 🎬 "final" (2).mp4').json()
    preview = server.wait(server.job(upload["id"], "studio", "preview", 0.5)["id"])
    assert preview["status"] == "done", preview
    answer = server.get(preview["download_url"])
    expected = urllib.parse.quote("видео-final-2-studio.png")
    assert f"filename*=utf-8''{expected}" in answer.headers["content-disposition"]
    assert server.request("DELETE", f"/api/uploads/{upload['id']}").status == 204


def test_a_job_whose_worker_died_is_queued_again_when_asked_about(
    serve: Callable[..., Server], talking_head: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With no worker in the app (``--workers 0``) and the worker elsewhere killed, nobody's
    keeper queued its job again: the page showed it running for good, its time left growing."""
    server = serve("--workers", "0")
    upload = server.upload(talking_head, "clip.mp4").json()
    job = server.job(upload["id"], "studio")
    queue = queue_of(server, monkeypatch)
    record = queue.get(job["id"])
    queue._put(replace(record, status="running", worker="killed", started=time.time() - 60,
                       lease_until=time.time() - 1, progress=0.5))
    for path in (f"/api/jobs/{job['id']}", "/api/jobs"):
        shown = server.get(path).json()
        shown = shown if isinstance(shown, dict) else shown[-1]
        assert (shown["status"], shown["attempt"]) == ("queued", 2), shown


def test_a_clip_keeps_its_newest_finished_previews_only(server: Server,
                                                        talking_head: Path) -> None:
    """The page makes a preview at every pick of a background, a frame or a setting, and shows
    the newest only: a short session left 227 preview folders that no page listed."""
    others = job_folders(server)
    clip = server.upload(talking_head, "clip.mp4").json()["id"]
    first = [server.wait(server.job(clip, "studio", kind="preview", at=index / 10)["id"])["id"]
             for index in range(KEPT_PREVIEWS + 2)]
    newest = server.job(clip, "dusk", kind="preview")["id"]
    previews = [job["id"] for job in server.get("/api/jobs?kind=preview").json()
                if job["upload"] == clip]
    assert previews == [*first[2:], newest]
    assert [server.get(f"/api/jobs/{job}").status for job in first[:2]] == [404, 404]
    assert len(job_folders(server) - others) == KEPT_PREVIEWS + 1
    server.wait(newest)
    assert server.request("DELETE", f"/api/uploads/{clip}").status == 204

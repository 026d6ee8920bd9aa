#!/usr/bin/python3
"""test_boto3.py: Debian's boto3 (Query protocol) runs the whole SQS loop against a real mmqd, restarts included.

Usage: MMQD=path/to/mmqd /usr/bin/python3 tests/sqs/test_boto3.py (make test-sqs runs it).
Every answer is checked exactly; the first mismatch prints the server's log and exits 1.
"""

import base64
import hashlib
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import boto3
import botocore
import botocore.config
import botocore.exceptions

ACCOUNT = "000000000000"


class Mmqd:
    """One mmqd on 127.0.0.1 with a temporary data directory; restarts keep the port."""

    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="mmq-sqs-py-")
        self.log = os.path.join(self.tmp, "mmqd.log")
        self.port = 0
        self.proc = None
        self.args = []

    def start(self, *args):
        if args:
            self.args = list(args)
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [os.environ["MMQD"], "--listen", "127.0.0.1:%d" % self.port, "--data-dir",
                 os.path.join(self.tmp, "data"), "--sync", "always"] + self.args,
                stdout=log, stderr=log)
        for _ in range(600):
            with open(self.log) as f:
                found = re.search(r"event=listening addr=127\.0\.0\.1:(\d+)", f.read())
            if found:
                self.port = int(found.group(1))
                self.url = "http://127.0.0.1:%d" % self.port
                return
            if self.proc.poll() is not None:
                fail("mmqd did not start")
            time.sleep(0.05)
        fail("mmqd did not say it listens within 30 s")

    def stop(self, sig):
        """Stops mmqd with sig: SIGTERM must end in status 0, SIGKILL in death by that signal."""
        self.proc.send_signal(sig)
        rc = self.proc.wait(60)
        self.proc = None
        want = 0 if sig == signal.SIGTERM else -signal.SIGKILL
        if rc != want:
            fail("mmqd ended with %d after signal %d, expected %d" % (rc, sig, want))

    def cleanup(self):
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)


server = Mmqd()
checks = 0


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    try:
        with open(server.log) as f:
            print("--- mmqd log (last 20 lines)\n" + "".join(f.readlines()[-20:]), file=sys.stderr)
    except OSError:
        pass
    server.cleanup()
    sys.exit(1)


def check(what, got, want):
    global checks
    if got != want:
        fail("%s: got %r, expected %r" % (what, got, want))
    checks += 1


def md5(data):
    return hashlib.md5(data.encode() if isinstance(data, str) else data).hexdigest()


def attr_md5(attrs):
    """The MD5 SQS documents for message attributes (names in byte order, length-prefixed fields)."""
    out = b""
    for name in sorted(attrs, key=lambda n: n.encode()):
        a = attrs[name]
        for field in (name.encode(), a["DataType"].encode()):
            out += struct.pack(">I", len(field)) + field
        if a["DataType"].startswith("Binary"):
            out += b"\x02" + struct.pack(">I", len(a["BinaryValue"])) + a["BinaryValue"]
        else:
            value = a["StringValue"].encode()
            out += b"\x01" + struct.pack(">I", len(value)) + value
    return hashlib.md5(out).hexdigest()


def client(key="mmqtest", secret="mmqtestsecret"):
    return boto3.client(
        "sqs", endpoint_url=server.url, region_name="us-east-1", aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=botocore.config.Config(retries={"total_max_attempts": 1}, read_timeout=60))


def expect_error(code, call, **kwargs):
    """The call must fail with HTTP 400/403 and the SQS error code the Query protocol carries."""
    try:
        got = call(**kwargs)
    except botocore.exceptions.ClientError as e:
        check("error code of %s" % call.__name__, e.response["Error"]["Code"], code)
        return e
    fail("%s succeeded, expected %s: %r" % (call.__name__, code, got))


def bodies(answer):
    return [m["Body"] for m in answer.get("Messages", [])]


def counts(sqs, url):
    a = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed"])["Attributes"]
    return (int(a["ApproximateNumberOfMessages"]), int(a["ApproximateNumberOfMessagesNotVisible"]),
            int(a["ApproximateNumberOfMessagesDelayed"]))


ATTRS = {
    "color": {"DataType": "String", "StringValue": "blue"},
    "count": {"DataType": "Number", "StringValue": "42"},
    "raw": {"DataType": "Binary", "BinaryValue": b"\x00\x01\x02\xffbinary"},
    "z.custom": {"DataType": "String.custom", "StringValue": "ü"},
}


def queues(sqs):
    """Create, idempotence, conflicts, URLs, lists and pages. Returns (main, dlq, dlq arn)."""
    check("list on a fresh server", sqs.list_queues().get("QueueUrls"), None)
    dlq = sqs.create_queue(QueueName="py-dlq")["QueueUrl"]
    check("dlq url", dlq, "%s/%s/py-dlq" % (server.url, ACCOUNT))
    arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    check("dlq arn", re.sub(r":[a-z0-9-]+:%s:" % ACCOUNT, ":R:A:", arn), "arn:aws:sqs:R:A:py-dlq")
    attrs = {"VisibilityTimeout": "30",
             "RedrivePolicy": json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": 3})}
    main = sqs.create_queue(QueueName="py-main", Attributes=attrs)["QueueUrl"]
    check("main url", main, "%s/%s/py-main" % (server.url, ACCOUNT))
    check("create again", sqs.create_queue(QueueName="py-main", Attributes=attrs)["QueueUrl"], main)
    expect_error("QueueAlreadyExists", sqs.create_queue, QueueName="py-main",
                 Attributes={"VisibilityTimeout": "31"})
    expect_error("InvalidAttributeName", sqs.create_queue, QueueName="py-bad",
                 Attributes={"NoSuchAttribute": "1"})
    check("get url", sqs.get_queue_url(QueueName="py-main")["QueueUrl"], main)
    expect_error("AWS.SimpleQueueService.NonExistentQueue", sqs.get_queue_url, QueueName="py-nope")
    for n in range(3):
        sqs.create_queue(QueueName="py-page-%d" % n)
    check("list with prefix", sorted(sqs.list_queues(QueueNamePrefix="py-")["QueueUrls"]),
          sorted([dlq, main] + ["%s/%s/py-page-%d" % (server.url, ACCOUNT, n) for n in range(3)]))
    page = sqs.list_queues(QueueNamePrefix="py-page-", MaxResults=2)
    check("first page", len(page["QueueUrls"]), 2)
    rest = sqs.list_queues(QueueNamePrefix="py-page-", MaxResults=2, NextToken=page["NextToken"])
    check("second page", sorted(page["QueueUrls"] + rest["QueueUrls"]),
          ["%s/%s/py-page-%d" % (server.url, ACCOUNT, n) for n in range(3)])
    check("no third page", rest.get("NextToken"), None)
    for n in range(3):
        sqs.delete_queue(QueueUrl="%s/%s/py-page-%d" % (server.url, ACCOUNT, n))
    check("list without the deleted", sqs.list_queues(QueueNamePrefix="py-page-").get("QueueUrls"), None)
    return main, dlq, arn


def send_receive(sqs, main):
    """Send, batch, receive with attributes, visibility, deletes and batch errors."""
    r = sqs.send_message(QueueUrl=main, MessageBody="first body", MessageAttributes=ATTRS)
    check("send body md5", r["MD5OfMessageBody"], md5("first body"))
    check("send attributes md5", r["MD5OfMessageAttributes"], attr_md5(ATTRS))
    first = r["MessageId"]
    batch = ["second <&> \"quoted\"", "third é ü 日本 \U0001F600", "{\"json\":[1,2]}"]
    r = sqs.send_message_batch(QueueUrl=main, Entries=[
        {"Id": "b%d" % i, "MessageBody": b} for i, b in enumerate(batch)] + [
        {"Id": "late", "MessageBody": "delayed", "DelaySeconds": 600}])
    check("batch ok", sorted(e["Id"] for e in r["Successful"]), ["b0", "b1", "b2", "late"])
    check("batch failed", r.get("Failed", []), [])
    check("batch md5s", {e["Id"]: e["MD5OfMessageBody"] for e in r["Successful"]},
          {"b0": md5(batch[0]), "b1": md5(batch[1]), "b2": md5(batch[2]), "late": md5("delayed")})
    expect_error("AWS.SimpleQueueService.BatchEntryIdsNotDistinct", sqs.send_message_batch, QueueUrl=main,
                 Entries=[{"Id": "x", "MessageBody": "1"}, {"Id": "x", "MessageBody": "2"}])
    expect_error("AWS.SimpleQueueService.TooManyEntriesInBatchRequest", sqs.send_message_batch,
                 QueueUrl=main, Entries=[{"Id": "e%d" % i, "MessageBody": "x"} for i in range(11)])
    check("counts after sends", counts(sqs, main), (4, 0, 1))

    r = sqs.receive_message(QueueUrl=main, MaxNumberOfMessages=3, AttributeNames=["All"],
                            MessageAttributeNames=["All"])
    check("first three", bodies(r), ["first body"] + batch[:2])
    m = r["Messages"]
    check("body md5s", [x["MD5OfBody"] for x in m], [md5(b) for b in bodies(r)])
    check("first id", m[0]["MessageId"], first)
    check("attributes", m[0]["MessageAttributes"], ATTRS)
    check("attributes md5", m[0]["MD5OfMessageAttributes"], attr_md5(ATTRS))
    check("receive counts", [x["Attributes"]["ApproximateReceiveCount"] for x in m], ["1", "1", "1"])
    fourth = sqs.receive_message(QueueUrl=main, AttributeNames=["SentTimestamp"],
                                 MessageAttributeNames=["color"])["Messages"]
    check("fourth", bodies({"Messages": fourth}), batch[2:])
    check("only the named attributes", list(fourth[0]["Attributes"]), ["SentTimestamp"])
    check("no message attributes", fourth[0].get("MessageAttributes"), None)
    check("counts with four in flight", counts(sqs, main), (0, 4, 1))

    sqs.change_message_visibility(QueueUrl=main, ReceiptHandle=m[0]["ReceiptHandle"], VisibilityTimeout=0)
    again = sqs.receive_message(QueueUrl=main, MessageAttributeNames=["color", "count"],
                                AttributeNames=["ApproximateReceiveCount"])["Messages"]
    check("visible again", [(x["MessageId"], x["Attributes"]["ApproximateReceiveCount"]) for x in again],
          [(first, "2")])
    sqs.delete_message(QueueUrl=main, ReceiptHandle=m[0]["ReceiptHandle"])
    check("a stale handle deletes nothing", counts(sqs, main), (0, 4, 1))
    expect_error("AWS.SimpleQueueService.MessageNotInflight", sqs.change_message_visibility, QueueUrl=main,
                 ReceiptHandle=m[0]["ReceiptHandle"], VisibilityTimeout=0)
    part = {k: ATTRS[k] for k in ("color", "count")}
    check("named message attributes", again[0]["MessageAttributes"], part)
    check("named attributes md5", again[0]["MD5OfMessageAttributes"], attr_md5(part))
    r = sqs.change_message_visibility_batch(QueueUrl=main, Entries=[
        {"Id": "a", "ReceiptHandle": again[0]["ReceiptHandle"], "VisibilityTimeout": 0},
        {"Id": "b", "ReceiptHandle": m[1]["ReceiptHandle"], "VisibilityTimeout": 0},
        {"Id": "bad", "ReceiptHandle": "not-a-handle", "VisibilityTimeout": 0}])
    check("visibility batch ok", sorted(e["Id"] for e in r["Successful"]), ["a", "b"])
    check("visibility batch failed", [(e["Id"], e["Code"], e["SenderFault"]) for e in r["Failed"]],
          [("bad", "ReceiptHandleIsInvalid", True)])
    sqs.delete_message(QueueUrl=main, ReceiptHandle=m[2]["ReceiptHandle"])
    sqs.delete_message(QueueUrl=main, ReceiptHandle=m[2]["ReceiptHandle"])  # gone already: succeeds
    back = sqs.receive_message(QueueUrl=main, MaxNumberOfMessages=10)["Messages"]
    check("two back", [x["Body"] for x in back], ["first body", batch[0]])
    r = sqs.delete_message_batch(QueueUrl=main, Entries=[
        {"Id": "d%d" % i, "ReceiptHandle": x["ReceiptHandle"]} for i, x in enumerate(back)] + [
        {"Id": "bad", "ReceiptHandle": "not-a-handle"}])
    check("delete batch ok", sorted(e["Id"] for e in r["Successful"]), ["d0", "d1"])
    check("delete batch failed", [(e["Id"], e["Code"], e["SenderFault"]) for e in r["Failed"]],
          [("bad", "ReceiptHandleIsInvalid", True)])
    expect_error("ReceiptHandleIsInvalid", sqs.delete_message, QueueUrl=main, ReceiptHandle="not-a-handle")
    check("one in flight, one delayed", counts(sqs, main), (0, 1, 1))
    check("nothing visible", bodies(sqs.receive_message(QueueUrl=main, WaitTimeSeconds=0)), [])
    sqs.delete_message(QueueUrl=main, ReceiptHandle=fourth[0]["ReceiptHandle"])


def redrive(sqs, main, dlq):
    """Received three times and made visible again, the message is found in the DLQ."""
    sqs.send_message(QueueUrl=main, MessageBody="poison", MessageAttributes={"color": ATTRS["color"]})
    for n in (1, 2, 3):
        m = sqs.receive_message(QueueUrl=main, AttributeNames=["ApproximateReceiveCount"])["Messages"]
        check("poison receive %d" % n, [(x["Body"], x["Attributes"]["ApproximateReceiveCount"]) for x in m],
              [("poison", str(n))])
        sqs.change_message_visibility(QueueUrl=main, ReceiptHandle=m[0]["ReceiptHandle"], VisibilityTimeout=0)
    check("poison gone from main", bodies(sqs.receive_message(QueueUrl=main)), [])
    m = sqs.receive_message(QueueUrl=dlq, MessageAttributeNames=["All"])["Messages"]
    check("poison in the dlq", [(x["Body"], x["MessageAttributes"]) for x in m],
          [("poison", {"color": ATTRS["color"]})])
    sqs.delete_message(QueueUrl=dlq, ReceiptHandle=m[0]["ReceiptHandle"])


def long_polls(sqs, main):
    """A receive waiting on an empty queue is woken by a send from another thread; one runs out."""
    result = {}

    def poll():
        result["r"] = client().receive_message(QueueUrl=main, WaitTimeSeconds=20)

    t = threading.Thread(target=poll)
    t.start()
    time.sleep(1)
    check("the long poll still waits", t.is_alive(), True)
    sent = sqs.send_message(QueueUrl=main, MessageBody="wake")["MessageId"]
    t.join(30)
    check("long poll woken by a send", [(x["MessageId"], x["Body"]) for x in result["r"]["Messages"]],
          [(sent, "wake")])
    t0 = time.monotonic()
    check("long poll that runs out", bodies(sqs.receive_message(QueueUrl=main, WaitTimeSeconds=1)), [])
    check("it waited", time.monotonic() - t0 >= 1, True)
    return result["r"]["Messages"][0]["ReceiptHandle"]


def restarts(main, in_flight):
    """SIGTERM, then kill -9: visible and in-flight messages, ids and handles all survive."""
    sqs = client()
    kept = sqs.send_message(QueueUrl=main, MessageBody="r1")["MessageId"]
    server.stop(signal.SIGTERM)
    server.start()
    sqs = client()
    check("after SIGTERM: counts", counts(sqs, main)[:2], (1, 1))
    m = sqs.receive_message(QueueUrl=main)["Messages"]
    check("after SIGTERM: message", [(x["MessageId"], x["Body"]) for x in m], [(kept, "r1")])
    r = sqs.delete_message_batch(QueueUrl=main, Entries=[
        {"Id": "old", "ReceiptHandle": in_flight}, {"Id": "new", "ReceiptHandle": m[0]["ReceiptHandle"]}])
    check("after SIGTERM: handles from before and after", sorted(e["Id"] for e in r["Successful"]),
          ["new", "old"])

    k1 = sqs.send_message(QueueUrl=main, MessageBody="k1", MessageAttributes=ATTRS)["MessageId"]
    hk = sqs.receive_message(QueueUrl=main)["Messages"][0]["ReceiptHandle"]
    k2 = sqs.send_message(QueueUrl=main, MessageBody="k2")["MessageId"]
    server.stop(signal.SIGKILL)
    server.start()
    sqs = client()
    m = sqs.receive_message(QueueUrl=main, MaxNumberOfMessages=10)["Messages"]
    check("after kill -9: visible", [(x["MessageId"], x["Body"]) for x in m], [(k2, "k2")])
    sqs.change_message_visibility(QueueUrl=main, ReceiptHandle=hk, VisibilityTimeout=0)
    m2 = sqs.receive_message(QueueUrl=main, AttributeNames=["ApproximateReceiveCount"],
                             MessageAttributeNames=["All"])["Messages"]
    check("after kill -9: in flight, released by its old handle",
          [(x["MessageId"], x["Body"], x["Attributes"]["ApproximateReceiveCount"], x["MessageAttributes"],
            x["MD5OfMessageAttributes"]) for x in m2], [(k1, "k1", "2", ATTRS, attr_md5(ATTRS))])
    sqs.delete_message(QueueUrl=main, ReceiptHandle=m[0]["ReceiptHandle"])
    sqs.delete_message(QueueUrl=main, ReceiptHandle=m2[0]["ReceiptHandle"])
    return sqs


def settings(sqs, main, dlq, arn):
    """Set and get attributes, the size limit, purge and delete."""
    sqs.set_queue_attributes(QueueUrl=main, Attributes={
        "VisibilityTimeout": "45", "MaximumMessageSize": "1024", "DelaySeconds": "0",
        "ReceiveMessageWaitTimeSeconds": "1",
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": "5"})})
    a = sqs.get_queue_attributes(QueueUrl=main, AttributeNames=["All"])["Attributes"]
    check("set attributes", [a["VisibilityTimeout"], a["MaximumMessageSize"], a["DelaySeconds"],
                             a["ReceiveMessageWaitTimeSeconds"]], ["45", "1024", "0", "1"])
    check("redrive policy", json.loads(a["RedrivePolicy"]), {"deadLetterTargetArn": arn, "maxReceiveCount": 5})
    expect_error("InvalidAttributeName", sqs.get_queue_attributes, QueueUrl=main, AttributeNames=["Nope"])
    expect_error("InvalidParameterValue", sqs.send_message, QueueUrl=main, MessageBody="x" * 1025)
    # Exactly MaximumMessageSize fits, quotes and line breaks included.
    sqs.send_message(QueueUrl=main, MessageBody="\"\n" * 512)
    check("counts before purge", counts(sqs, main), (1, 0, 1))
    sqs.purge_queue(QueueUrl=main)
    check("purged", counts(sqs, main), (0, 0, 0))
    sqs.delete_queue(QueueUrl=main)
    sqs.delete_queue(QueueUrl=dlq)
    check("list after delete", sqs.list_queues(QueueNamePrefix="py-").get("QueueUrls"), None)
    expect_error("AWS.SimpleQueueService.NonExistentQueue", sqs.send_message, QueueUrl=main, MessageBody="x")


def auth():
    """With a token, the configured access key gets in and another one gets the SQS auth error."""
    with open(os.path.join(server.tmp, "token"), "w") as f:
        f.write("mmqtest\n")
    server.stop(signal.SIGTERM)
    server.start("--auth-token-file", os.path.join(server.tmp, "token"))
    check("right access key", client().create_queue(QueueName="py-auth")["QueueUrl"],
          "%s/%s/py-auth" % (server.url, ACCOUNT))
    e = expect_error("InvalidClientTokenId", client("wrongkey").list_queues)
    check("auth error status", e.response["ResponseMetadata"]["HTTPStatusCode"], 403)
    unsigned = boto3.client("sqs", endpoint_url=server.url, region_name="us-east-1",
                            config=botocore.config.Config(signature_version=botocore.UNSIGNED,
                                                          retries={"total_max_attempts": 1}))
    e = expect_error("MissingAuthenticationToken", unsigned.list_queues)
    check("unsigned status", e.response["ResponseMetadata"]["HTTPStatusCode"], 403)
    # The queue SQS made is the v1 API's too, behind the bearer token.
    req = urllib.request.Request(server.url + "/v1/queues/py-auth", headers={"Authorization": "Bearer mmqtest"})
    with urllib.request.urlopen(req) as r:
        check("v1 sees the SQS queue", (r.status, json.loads(r.read())["name"]), (200, "py-auth"))
    # With --sqs-secret-key the SigV4 signature is verified: the right secret in, another out.
    server.stop(signal.SIGTERM)
    server.start("--auth-token-file", os.path.join(server.tmp, "token"), "--sqs-secret-key", "mmqtestsecret")
    sqs = client()
    check("signed with the secret", sqs.get_queue_url(QueueName="py-auth")["QueueUrl"],
          "%s/%s/py-auth" % (server.url, ACCOUNT))
    r = sqs.send_message(QueueUrl=sqs.get_queue_url(QueueName="py-auth")["QueueUrl"], MessageBody="signed é",
                         MessageAttributes=ATTRS)
    check("signed send", r["MD5OfMessageAttributes"], attr_md5(ATTRS))
    e = expect_error("SignatureDoesNotMatch", client(secret="wrongsecret").list_queues)
    check("bad signature status", e.response["ResponseMetadata"]["HTTPStatusCode"], 403)
    server.stop(signal.SIGTERM)


def main():
    start = time.monotonic()
    server.start()
    sqs = client()
    main_url, dlq, arn = queues(sqs)
    send_receive(sqs, main_url)
    redrive(sqs, main_url, dlq)
    handle = long_polls(sqs, main_url)
    sqs = restarts(main_url, handle)
    settings(sqs, main_url, dlq, arn)
    auth()
    server.cleanup()
    print("test_boto3: %d checks passed in %.1f s" % (checks, time.monotonic() - start))


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # anything unexpected fails the same way, server log included
        fail("unexpected %s: %s" % (type(e).__name__, e))

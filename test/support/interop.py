#!/usr/bin/python3
"""A second AMQP 1.0 implementation (Apache Qpid Proton) as a QMF peer.

usage: interop.py URL PROFILE SERVER_ADDRESS OBJECT EVENTS_TOPIC

Subscribes to EVENTS_TOPIC, prints {"ready": true} once subscribed, calls
OBJECT.echo on SERVER_ADDRESS with a QMF _method_request, then asks the
same address which objects of class OBJECT it serves (a _query_request),
and prints {"reply": ...}, {"query": ...} and {"event": ...} as they
arrive. Exits 0 once it has all three, 1 after 20 s without them.
"""
import json
import sys
import uuid

from proton import Message
from proton.handlers import MessagingHandler
from proton.reactor import Container


def address(profile, kind, name):
    if profile == "rabbitmq":
        return "/exchange/%s/%s" % ("amq.topic" if kind == "topic" else "amq.direct", name)
    return name


def emit(record):
    print(json.dumps(record, default=str), flush=True)


class Peer(MessagingHandler):
    def __init__(self, url, profile, server, obj, topic):
        super(Peer, self).__init__()
        self.url, self.profile, self.server, self.obj, self.topic = url, profile, server, obj, topic
        self.reply_to = None
        self.sent = False
        self.got = set()

    def on_start(self, event):
        self.conn = event.container.connect(self.url, allowed_mechs="ANONYMOUS PLAIN")
        self.events = event.container.create_receiver(self.conn, address(self.profile, "topic", self.topic))
        if self.profile == "rabbitmq":
            self.reply_to = address(self.profile, "node", "reply.proton." + uuid.uuid4().hex[:12])
            self.replies = event.container.create_receiver(self.conn, self.reply_to)
        else:
            self.replies = event.container.create_receiver(self.conn, None, dynamic=True)
        self.sender = event.container.create_sender(self.conn, address(self.profile, "node", self.server))
        event.container.schedule(20, self)

    def on_timer_task(self, event):
        emit({"timeout": sorted(self.got)})
        sys.exit(1)

    def on_link_opened(self, event):
        if event.receiver == self.events:
            emit({"ready": True})
        if event.receiver == self.replies and self.profile != "rabbitmq":
            self.reply_to = event.receiver.remote_source.address
        self.maybe_send()

    def on_sendable(self, event):
        self.maybe_send()

    def maybe_send(self):
        if self.sent or self.reply_to is None or not self.sender.credit or not self.replies.state & self.replies.REMOTE_ACTIVE:
            return
        self.sent = True
        self.sender.send(Message(
            reply_to=self.reply_to,
            correlation_id="proton-1",
            properties={"x-amqp-0-10.app-id": "qmf2", "qmf.opcode": "_method_request", "method": "request"},
            body={"_object_id": {"_object_name": self.obj}, "_method_name": "echo",
                  "_arguments": {"value": "from proton", "n": 42}},
        ))

    def on_message(self, event):
        if event.receiver == self.replies and event.message.correlation_id == "proton-1":
            emit({"reply": {"opcode": event.message.properties.get("qmf.opcode"),
                            "correlation_id": event.message.correlation_id, "body": event.message.body}})
            self.got.add("reply")
            self.sender.send(Message(
                reply_to=self.reply_to,
                correlation_id="proton-2",
                properties={"x-amqp-0-10.app-id": "qmf2", "qmf.opcode": "_query_request", "method": "request"},
                body={"_what": "OBJECT", "_schema_id": {"_class_name": self.obj}},
            ))
        elif event.receiver == self.replies:
            emit({"query": {"opcode": event.message.properties.get("qmf.opcode"),
                            "content": event.message.properties.get("qmf.content"),
                            "correlation_id": event.message.correlation_id, "body": event.message.body}})
            self.got.add("query")
        elif event.receiver == self.events:
            emit({"event": {"opcode": event.message.properties.get("qmf.opcode"),
                            "content": event.message.properties.get("qmf.content"), "body": event.message.body}})
            self.got.add("event")
        if self.got == {"reply", "query", "event"}:
            event.connection.close()
            event.container.stop()


if __name__ == "__main__":
    Container(Peer(*sys.argv[1:6])).run()

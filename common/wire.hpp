/* SPDX-License-Identifier: MIT */
/*
 * The wire protocol between libha_gs and gsd (see docs/wire-protocol.md).
 *
 * Each ZeroMQ frame is one MessagePack document, encoded and decoded
 * directly from and into these structures (no document tree in between: the
 * codec is on every message's path). MessagePack rather than JSON text because state values and
 * messages are arbitrary bytes, which it carries natively (bin type) without base64.
 *
 * client -> gsd (DEALER -> ROUTER), one frame:  ClientMessage
 * gsd -> client (ROUTER -> DEALER), one frame:  ServerMessage, except a
 *   notification, which is two frames: NoteHeader, then the encoded NoteBody.
 *   The body frame is the same bytes for every recipient of a fan-out.
 *   To a client whose Hello set `batches`, one ZeroMQ message may carry
 *   several of these in a row (the frames of one engine step: a reply and
 *   the notifications it caused), so they arrive together.
 *   To a client whose Hello set `packs`, one frame may hold several server
 *   messages one after the other (MessagePack documents are
 *   self-delimiting); a NoteHeader's body is then the next document of the
 *   same frame, or the whole next frame when the header ends its frame
 *   (gsd sends a large body as a frame of its own, shared by every
 *   recipient). decodeNextServerMessage and decodeNextNoteBody read them.
 *
 * Decoders are strict: a frame that is not a map, lacks a field, has a field
 * of the wrong type or a number out of range throws DecodeError. They are
 * the first thing hostile input meets.
 */
#pragma once

#include "common/model.hpp"

#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>

namespace gs::wire {

/* Version 2: the client acknowledges gsd's Marks (Mark, Ack below); gsd
 * refuses version 1, whose clients would let it queue without bound. */
constexpr int kProtocolVersion = 2;

/* Largest frame either side accepts (ZMQ_MAXMSGSIZE on gsd's socket). */
constexpr size_t kMaxFrameSize = 1u << 20;

/* ---- client -> gsd ---- */

/* Hello.kind: which API the session serves. One process may hold one
 * session of each kind at a time. A Hello without the field is GSAPI, so
 * older clients keep working. */
constexpr int kSessionGsapi = 0;
constexpr int kSessionCmm = 1;
/* An operator's tool (gsctl): queries of gsd's state and its event stream;
 * only root, gsd's own user and the admin group (gsd --admin-group). */
constexpr int kSessionAdmin = 2;

/* First message of a session. gsd answers with Welcome. */
struct Hello {
    int version = kProtocolVersion;
    std::optional<std::string> domain; /* HA_DOMAIN_NAME, when set */
    int responsivenessType = 0;        /* ha_gs_responsiveness_type_t */
    int responsivenessInterval = 0;    /* seconds */
    int responsivenessTimeLimit = 0;   /* seconds */
    int kind = kSessionGsapi;          /* kSessionGsapi or kSessionCmm */
    /* The client reads several server messages from one ZeroMQ message (see
     * ServerMessage below). A Hello without the field says no. */
    bool batches = false;
    /* The client reads several server messages from one frame (see
     * ServerMessage below); implies nothing about `batches`. */
    bool packs = false;
    /* The path given to ha_gs_init as deactivate_script (at most
     * HA_GS_MAX_DEACTIVATE_SCRIPT_LENGTH bytes), when one was given. */
    std::optional<std::string> deactivateScript;
    /* HA_GS_COUNTER_RESPONSIVENESS: where the counter lives in the client's
     * address space, and its length in bytes. */
    uint64_t counterAddress = 0;
    int counterLength = 0;
};
struct Req {
    RequestId id = 0;
    Request request;
};
/* Answer to Ping, sent after the responsiveness callback said OK. */
struct Pong {
    uint64_t seq = 0;
};
/* ha_gs_quit / cmm_disconnect: the session ends now. */
struct Quit {};
/* Answer to Mark, sent as soon as the client has read it: the client has
 * read everything gsd sent before the mark (flow control, see Mark). */
struct Ack {
    uint64_t key = 0;
};

/* ---- CMM (cmm.h over a kSessionCmm session) ---- */

/* The operations of CmmReq; values never change meaning. */
enum CmmOp : int {
    kCmmNodeGetId = 1,
    kCmmMemberGetInfo = 2,    /* node */
    kCmmPotentialGetInfo = 3, /* node */
    kCmmMasterGetInfo = 4,
    kCmmViceMasterGetInfo = 5,
    kCmmGetCount = 6,
    kCmmGetAll = 7,
    kCmmMastershipRelease = 8,
    kCmmMembershipRemove = 9,
    kCmmSetQualif = 10, /* node, qualif */
    kCmmSeizeQualif = 11,
    kCmmConfigReload = 12,
    kCmmRegister = 13,
    kCmmUnregister = 14,
    kCmmNodeEligible = 15,
    kCmmNodeIneligible = 16,
};

/* cmm_member_t with owned strings. */
struct CmmMember {
    uint32_t nodeid = 0;
    std::string name;
    std::string addr;
    uint32_t domainid = 0;
    uint32_t sflag = 0;
    uint32_t incarnation = 0;
    std::string softwareLoadId;
    bool operator==(const CmmMember &) const = default;
};

struct CmmReq {
    RequestId id = 0;
    int op = 0;        /* CmmOp; gsd answers CMM_ENOTSUP to an unknown one */
    uint32_t node = 0; /* member/potential getinfo, setqualif */
    int qualif = 0;    /* setqualif */
};

/* ---- Admin (gsctl over a kSessionAdmin session) ---- */

/* One query; its answer is one AdminReply. `query` names it: "groups",
 * "group" (the group `group`), "clients", "nodes", "stats", "metrics", or
 * "events" (from then on gsd sends AdminEvents, of `group` only when it is
 * set). docs/wire-protocol.md has the documents. */
struct AdminReq {
    RequestId id = 0;
    std::string query;
    std::optional<std::string> group;
};

using ClientMessage = std::variant<Hello, Req, Pong, Quit, CmmReq, Ack, AdminReq>;

/* ---- gsd -> client ---- */

struct Welcome {
    int rc = 0; /* ha_gs_rc_t: OK, NOT_AUTHORIZED, DOMAIN_NOT_RECOG, CONNECT_FAILED ... */
    int node = 0;
    std::string domain;
    ClientId client = 0;
};
struct ReplyMsg {
    RequestId id = 0;
    int rc = 0;
    Token token = 0;
};
/* Followed by one more frame: encodeNoteBody(body). */
struct NoteHeader {
    Token token = 0;
    bool final = false;
};
/* Responsiveness check. */
struct Ping {
    uint64_t seq = 0;
};
/* gsd is shutting down or dropping this client; the session is over. */
struct Bye {
    std::string reason;
};
/* Flow control: gsd counts the bytes it queues for a client, and every
 * eighth of --send-queue-bytes it adds a mark with a random key. The client
 * answers each with Ack{key} as it reads it; an acknowledged mark frees what
 * was sent before it. A client cannot acknowledge what it has not read: the
 * key is only in the stream, after those bytes. */
struct Mark {
    uint64_t key = 0;
};

/* Answer to CmmReq: a cmm_error_t, the node id (getid), the count
 * (getcount, getall) and the members (getinfo family: one; getall: all). */
struct CmmReply {
    RequestId id = 0;
    int rc = 0;
    uint32_t node = 0;
    uint32_t count = 0;
    std::vector<CmmMember> members;
};
/* One cluster membership change, sent to every registered CMM session in
 * the order the CMM engine produced them. */
struct CmmNote {
    int change = 0; /* cmm_cmchanges_t */
    uint32_t node = 0;
    bool operator==(const CmmNote &) const = default;
};

/* Answer to AdminReq: rc HA_GS_OK and the answer in `text` (a JSON
 * document; Prometheus' text format for "metrics"), or HA_GS_BAD_PARAMETER
 * (a query gsd does not know), HA_GS_UNKNOWN_GROUP (no such group) and
 * what went wrong in `text`. */
struct AdminReply {
    RequestId id = 0;
    int rc = 0;
    std::string text;
};
/* One event of the stream an "events" query started: a JSON object. */
struct AdminEvent {
    std::string text;
};

using ServerMessage = std::variant<Welcome, ReplyMsg, NoteHeader, Ping, Bye, CmmReply, CmmNote,
                                   Mark, AdminReply, AdminEvent>;

struct DecodeError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

std::string encode(const ClientMessage &message);
ClientMessage decodeClientMessage(std::string_view frame);

std::string encode(const ServerMessage &message);
/* The same into `out` (replacing its contents), which keeps its capacity:
 * no allocation per message once it has grown. */
void encode(const ServerMessage &message, std::string &out);
ServerMessage decodeServerMessage(std::string_view frame);
/* The first server message of `rest` (a frame, or what is left of one),
 * which then starts after it: for frames that hold several (Hello.packs).
 * Throws DecodeError like decodeServerMessage; never reads past `rest`. */
ServerMessage decodeNextServerMessage(std::string_view &rest);

std::string encodeNoteBody(const NoteBody &body);
NoteBody decodeNoteBody(std::string_view frame);
/* The same for a body that follows its header in the header's frame. */
NoteBody decodeNextNoteBody(std::string_view &rest);

} // namespace gs::wire

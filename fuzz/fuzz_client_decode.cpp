/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: what gsd sends a client, taken as libha_gs takes it
 * (libha_gs/session.cpp, routeLocked and deliver).
 *
 *  1. The input is tried as a one-frame wire::ServerMessage and as the body
 *     frame of a notification (wire::decodeNoteBody). Each decoder either
 *     throws DecodeError or returns a value that survives a round trip
 *     (encode, decode, equal).
 *     Then as a packed frame (Hello.packs): message after message, a
 *     notification header's body read from the same frame, as
 *     Session::readSocketLocked does; each next-decoder either throws or
 *     consumes a non-empty prefix that decodes alone to the same value.
 *  2. A decoded notification body that passes the library's range check
 *     (validNoteBody, libha_gs/wire_ranges.hpp; Session ends the session on
 *     any other) is converted into the C blocks of ha_gs.h by
 *     NotificationBuilder, and every pointer in the result is followed and
 *     every byte read, as an application's callback may, so AddressSanitizer
 *     sees any pointer that is dangling, short or unterminated.
 */
#include "check.hpp"

#include "common/overloaded.hpp"
#include "common/wire.hpp"
#include "ha_gs.h"
#include "libha_gs/notification_builder.hpp"
#include "libha_gs/token_entry.hpp"
#include "libha_gs/wire_ranges.hpp"

#include <cstring>
#include <string_view>
#include <variant>

using namespace gs;
using gs::fuzz::check;

namespace {

/* Every byte an application could read goes through here. */
volatile unsigned sink;

void touch(const void *p, size_t n)
{
    const auto *bytes = static_cast<const unsigned char *>(p);
    unsigned sum = 0;
    for (size_t i = 0; i < n; ++i)
        sum += bytes[i];
    sink = sum;
}

void text(const char *s)
{
    check(s != nullptr, "NULL text");
    touch(s, std::strlen(s) + 1);
}

void walk(const ha_gs_state_value_t *v)
{
    if (!v)
        return;
    touch(v, sizeof *v);
    check(v->gs_state != nullptr, "state value without bytes");
    /* Applications print states as text: a NUL follows the bytes. */
    touch(v->gs_state, v->gs_length + 1u);
    check(v->gs_state[v->gs_length] == '\0', "state value not NUL-terminated");
}

void walk(const ha_gs_provider_message_t *m)
{
    if (!m)
        return;
    touch(m, sizeof *m);
    check(m->gs_message != nullptr, "message without bytes");
    touch(m->gs_message, m->gs_length + 1u);
}

void walk(const ha_gs_membership_t *m)
{
    if (!m)
        return;
    touch(m, sizeof *m);
    check(m->gs_count == 0 || m->gs_providers != nullptr, "members without a list");
    if (m->gs_count > 0)
        touch(m->gs_providers, m->gs_count * sizeof(ha_gs_provider_t));
}

void walk(const ha_gs_group_attributes_t *a)
{
    if (!a)
        return;
    touch(a, sizeof *a);
    text(a->gs_group_name);
    text(a->gs_source_group_name);
}

void walk(const ha_gs_proposal_t *p)
{
    check(p != nullptr, "notification without a proposal");
    touch(p, sizeof *p);
    check(p->gs_old_state_value != nullptr, "proposal without the old state");
    walk(p->gs_old_state_value);
    walk(p->gs_proposed_state_value);
    walk(p->gs_provider_message);
    check(p->gs_current_providers != nullptr, "proposal without current providers");
    walk(p->gs_current_providers);
    walk(p->gs_changing_providers);
    if (p->gs_leave_info) {
        check(p->gs_changing_providers != nullptr, "leave info without changing providers");
        touch(p->gs_leave_info, p->gs_changing_providers->gs_count * sizeof(ha_gs_leave_info_t));
    }
    if (p->gs_expel_info) {
        touch(p->gs_expel_info, sizeof *p->gs_expel_info);
        text(p->gs_expel_info->gs_deactivate_flag);
    }
    walk(p->gs_proposed_group_attributes);
    walk(p->gs_source_state_value);
}

template <class T>
void header(const T *n, ha_gs_notification_type_t type)
{
    check(n != nullptr, "no notification");
    touch(n, sizeof *n);
    check(n->gs_notification_type == type, "wrong notification type");
}

const ha_gs_proposal_info_t *failingRequest()
{
    static const auto entry = [] {
        ha_gs_subscribe_request_t request{};
        request.gs_subscription_control = HA_GS_SUBSCRIBE_ALL_MEMBERSHIP;
        request.gs_subscription_group = "fuzz";
        return client::TokenEntry::forSubscribe(request);
    }();
    return entry->request();
}

void build(const NoteBody &body, Token token)
{
    client::NotificationBuilder b;
    std::visit(Overloaded{
                   [&](const NPhaseNote &n) {
                       const auto *c = b.nPhase(token, n);
                       header(c, HA_GS_N_PHASE_NOTIFICATION);
                       walk(c->gs_proposal);
                   },
                   [&](const ApprovedNote &n) {
                       const auto *c = b.approved(token, n);
                       header(c, HA_GS_APPROVED_NOTIFICATION);
                       walk(c->gs_proposal);
                   },
                   [&](const RejectedNote &n) {
                       const auto *c = b.rejected(token, n);
                       header(c, HA_GS_REJECTED_NOTIFICATION);
                       walk(c->gs_proposal);
                   },
                   [&](const AnnouncementNote &n) {
                       const auto *c = b.announcement(token, n);
                       header(c, HA_GS_ANNOUNCEMENT_NOTIFICATION);
                       check(c->gs_announcement != nullptr, "announcement without providers");
                       walk(c->gs_announcement);
                   },
                   [&](const SubscriptionNote &n) {
                       const auto *c = b.subscription(token, n);
                       header(c, HA_GS_SUBSCRIPTION_NOTIFICATION);
                       walk(c->gs_state_value);
                       walk(c->gs_full_membership);
                       walk(c->gs_changing_membership);
                   },
                   [&](const DelayedErrorNote &n) {
                       const auto *c = b.delayedError(token, n, failingRequest());
                       header(c, HA_GS_DELAYED_ERROR_NOTIFICATION);
                       const ha_gs_proposal_info_t *f = c->gs_failing_request;
                       check(f != nullptr, "delayed error without its request");
                       text(f->gs_subscribe_request.gs_subscription_group);
                   },
               },
               body);
}

void serverMessage(std::string_view frame)
{
    wire::ServerMessage message;
    try {
        message = wire::decodeServerMessage(frame);
    } catch (const wire::DecodeError &) {
        return;
    }
    const std::string once = wire::encode(message);
    wire::ServerMessage again;
    try {
        again = wire::decodeServerMessage(once);
    } catch (const wire::DecodeError &error) {
        fuzz::fail(std::string("re-encoded server message does not decode: ") + error.what());
    }
    check(wire::encode(again) == once, "server message round trip changed it");
}

void noteBody(std::string_view frame)
{
    NoteBody body;
    try {
        body = wire::decodeNoteBody(frame);
    } catch (const wire::DecodeError &) {
        return;
    }
    const std::string once = wire::encodeNoteBody(body);
    try {
        check(wire::decodeNoteBody(once) == body, "notification round trip changed it");
    } catch (const wire::DecodeError &error) {
        fuzz::fail(std::string("re-encoded notification does not decode: ") + error.what());
    }
    /* As Session: a body with a value outside ha_gs.h's enums ends the
     * session and is never built. */
    if (!client::validNoteBody(body))
        return;
    build(body, 7);
}

/* One document taken from the front of `rest`: it must be a non-empty
 * prefix that the whole-frame decoder reads the same way. */
template <class T>
bool next(std::string_view &rest, T (*decodeNext)(std::string_view &),
          T (*decodeWhole)(std::string_view), std::string (*encode)(const T &))
{
    const std::string_view before = rest;
    T value;
    try {
        value = decodeNext(rest);
    } catch (const wire::DecodeError &) {
        check(rest.size() == before.size(), "a failed next-decode moved the frame on");
        return false;
    }
    check(rest.size() < before.size() && before.substr(before.size() - rest.size()) == rest,
          "a next-decode did not consume a non-empty prefix");
    try {
        const T alone = decodeWhole(before.substr(0, before.size() - rest.size()));
        check(encode(alone) == encode(value), "a packed document decodes differently alone");
    } catch (const wire::DecodeError &error) {
        fuzz::fail(std::string("a packed document does not decode alone: ") + error.what());
    }
    return true;
}

std::string encodeServer(const wire::ServerMessage &m)
{
    return wire::encode(m);
}

void packedFrame(std::string_view rest)
{
    while (!rest.empty()) {
        const std::string_view at = rest;
        if (!next(rest, wire::decodeNextServerMessage, wire::decodeServerMessage, encodeServer))
            return;
        std::string_view message = at.substr(0, at.size() - rest.size());
        if (!std::holds_alternative<wire::NoteHeader>(wire::decodeServerMessage(message)))
            continue;
        const std::string_view bodyAt = rest;
        if (!next(rest, wire::decodeNextNoteBody, wire::decodeNoteBody, wire::encodeNoteBody))
            return;
        noteBody(bodyAt.substr(0, bodyAt.size() - rest.size()));
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const std::string_view frame(reinterpret_cast<const char *>(data), size);
    serverMessage(frame);
    noteBody(frame);
    packedFrame(frame);
    return 0;
}

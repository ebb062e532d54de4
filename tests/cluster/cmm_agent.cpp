/* SPDX-License-Identifier: MIT */
#include "cmm_agent.hpp"

#include "harness.hpp"

#include "../support/cmm_names.hpp"

#include <cmm.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <poll.h>
#include <sstream>
#include <sys/wait.h>
#include <unistd.h>

namespace cluster {
namespace {

using gs::test::cmmChangeName;
using gs::test::cmmRcName;

int64_t monotonicMs()
{
    timespec now{};
    clock_gettime(CLOCK_MONOTONIC, &now);
    return static_cast<int64_t>(now.tv_sec) * 1000 + now.tv_nsec / 1000000;
}

/* The child's output descriptor: written by the callback too. */
int childOut = -1;

void writeLine(const std::string &line)
{
    const std::string text = line + "\n";
    size_t done = 0;
    while (done < text.size()) {
        const ssize_t n = write(childOut, text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            _exit(3);
        done += static_cast<size_t>(n);
    }
}

void onNote(const cmm_cmc_notification_t *note, void *)
{
    writeLine(std::string("! ") + cmmChangeName(note->cmchange) + " " +
              std::to_string(note->nodeid) + " " + std::to_string(monotonicMs()));
}

char roleOf(const cmm_member_t &m)
{
    return cmm_member_isoutofcluster(&m) ? 'O'
           : cmm_member_ismaster(&m)     ? 'M'
           : cmm_member_isvicemaster(&m) ? 'V'
                                         : '-';
}

std::string view()
{
    std::string out;
    cmm_member_t table[64];
    uint32_t count = 0;
    const cmm_error_t rc = cmm_member_getall(64, table, &count);
    if (rc != CMM_OK && rc != CMM_EAGAIN)
        return std::string("getall=") + cmmRcName(rc);
    out = "count=" + std::to_string(count) + " members=[";
    for (uint32_t i = 0; i < count; ++i)
        out += (i ? " " : "") + std::to_string(table[i].nodeid) + ":" + table[i].name + ":" +
               roleOf(table[i]);
    out += "]";
    if (rc != CMM_OK)
        out += std::string(" getall=") + cmmRcName(rc);
    cmm_member_t role{};
    const cmm_error_t master = cmm_master_getinfo(&role);
    out += " master=" +
           (master == CMM_OK ? std::to_string(role.nodeid) : std::string(cmmRcName(master)));
    const cmm_error_t vice = cmm_vicemaster_getinfo(&role);
    out += " vice=" + (vice == CMM_OK ? std::to_string(role.nodeid) : std::string(cmmRcName(vice)));
    return out;
}

std::string self()
{
    cmm_nodeid_t me = 0;
    cmm_error_t rc = cmm_node_getid(&me);
    if (rc != CMM_OK)
        return std::string("getid=") + cmmRcName(rc);
    cmm_member_t member{};
    rc = cmm_member_getinfo(me, &member);
    return "me=" + std::to_string(me) + " rc=" + cmmRcName(rc) +
           " flags=" + (rc == CMM_OK || rc == CMM_EAGAIN ? std::string(1, roleOf(member)) : "?");
}

std::string run(const std::string &line)
{
    std::istringstream in(line);
    std::string command;
    in >> command;
    if (command == "view")
        return view();
    if (command == "self")
        return self();
    if (command == "potential") {
        cmm_nodeid_t node = 0;
        in >> node;
        cmm_member_t member{};
        const cmm_error_t rc = cmm_potential_getinfo(node, &member);
        if (rc != CMM_OK && rc != CMM_EAGAIN)
            return cmmRcName(rc);
        return std::string(cmmRcName(rc)) + " " + member.name + " " + roleOf(member) +
               (cmm_member_iseligible(&member) ? " eligible" : " ineligible");
    }
    if (command == "release")
        return cmmRcName(cmm_mastership_release());
    if (command == "remove")
        return cmmRcName(cmm_membership_remove());
    if (command == "qualify" || command == "disqualify") {
        cmm_nodeid_t node = 0;
        in >> node;
        return cmmRcName(cmm_member_setqualif(
            node, command == "qualify" ? CMM_QUALIFIED_MEMBER : CMM_DISQUALIFIED_MEMBER));
    }
    if (command == "seize")
        return cmmRcName(cmm_member_seizequalif());
    if (command == "reload")
        return cmmRcName(cmm_config_reload());
    return "unknown command " + command;
}

[[noreturn]] void agentMain(int in, int out, const std::string &endpoint)
{
    childOut = out;
    setenv("HA_GS_SOCKET", endpoint.c_str(), 1);
    cmm_error_t rc = cmm_connect(timespec_t{5, 0});
    if (rc == CMM_OK)
        rc = cmm_cmc_register(onNote, nullptr);
    int fd = -1;
    if (rc == CMM_OK)
        rc = cmm_notify_getfd(&fd);
    writeLine(std::string("= registered ") + cmmRcName(rc));
    std::string pending;
    for (;;) {
        pollfd fds[2] = {{in, POLLIN, 0}, {fd, POLLIN, 0}};
        const int n = poll(fds, fd >= 0 ? 2 : 1, -1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            _exit(2);
        if (fd >= 0 && fds[1].revents) {
            if (const cmm_error_t d = cmm_notify_dispatch(); d == CMM_EBADF) {
                writeLine("! EBADF 0 " + std::to_string(monotonicMs()));
                fd = -1;
            }
        }
        if (fds[0].revents) {
            char buf[512];
            const ssize_t got = read(in, buf, sizeof buf);
            if (got <= 0)
                _exit(0);
            pending.append(buf, static_cast<size_t>(got));
            for (size_t eol; (eol = pending.find('\n')) != std::string::npos;) {
                const std::string line = pending.substr(0, eol);
                pending.erase(0, eol + 1);
                writeLine("= " + run(line));
            }
        }
    }
}

} // namespace

std::string joined(const std::vector<std::string> &texts)
{
    std::string out;
    for (const std::string &t : texts)
        out += (out.empty() ? "" : " ") + t;
    return out;
}

CmmAgent::CmmAgent(std::string name, const std::string &endpoint) : name_(std::move(name))
{
    int down[2], up[2];
    if (pipe2(down, O_CLOEXEC) != 0 || pipe2(up, O_CLOEXEC) != 0)
        return;
    std::fflush(nullptr);
    pid_ = fork();
    if (pid_ == 0) {
        close(down[1]);
        close(up[0]);
        agentMain(down[0], up[1], endpoint);
    }
    close(down[0]);
    close(up[1]);
    toChild_ = down[1];
    fromChild_ = up[0];
    if (pid_ < 0)
        return;
    const int64_t deadline = nowMs() + 15000;
    while (answers_.empty() && nowMs() < deadline && pump(100)) {
    }
    if (!answers_.empty()) {
        registration_ = answers_.front();
        answers_.erase(answers_.begin());
        ready_ = registration_ == "registered OK";
    }
}

CmmAgent::~CmmAgent()
{
    if (toChild_ >= 0)
        close(toChild_);
    if (fromChild_ >= 0)
        close(fromChild_);
    if (pid_ > 0) {
        kill(pid_, SIGKILL);
        waitpid(pid_, nullptr, 0);
    }
}

bool CmmAgent::pump(int waitMs)
{
    pollfd p{fromChild_, POLLIN, 0};
    if (poll(&p, 1, waitMs) <= 0)
        return true;
    char buf[4096];
    const ssize_t n = read(fromChild_, buf, sizeof buf);
    if (n <= 0)
        return false;
    buffer_.append(buf, static_cast<size_t>(n));
    for (size_t eol; (eol = buffer_.find('\n')) != std::string::npos;) {
        const std::string line = buffer_.substr(0, eol);
        buffer_.erase(0, eol + 1);
        if (line.rfind("= ", 0) == 0) {
            answers_.push_back(line.substr(2));
        } else if (line.rfind("! ", 0) == 0) {
            std::istringstream in(line.substr(2));
            CmmNote note;
            in >> note.kind >> note.node >> note.atMs;
            notes_.push_back(note);
        }
    }
    return true;
}

std::string CmmAgent::call(const std::string &command, int timeoutMs)
{
    if (pid_ <= 0)
        return "";
    answers_.clear();
    const std::string line = command + "\n";
    if (write(toChild_, line.data(), line.size()) != static_cast<ssize_t>(line.size()))
        return "";
    const int64_t deadline = nowMs() + timeoutMs;
    while (answers_.empty() && nowMs() < deadline)
        if (!pump(static_cast<int>(std::min<int64_t>(100, deadline - nowMs()))))
            break;
    if (answers_.empty())
        return "";
    std::string answer = answers_.front();
    answers_.erase(answers_.begin());
    return answer;
}

const std::vector<CmmNote> &CmmAgent::notes()
{
    while (pump(0)) {
        pollfd p{fromChild_, POLLIN, 0};
        if (poll(&p, 1, 0) <= 0)
            break;
    }
    return notes_;
}

std::vector<std::string> CmmAgent::texts(size_t from)
{
    std::vector<std::string> out;
    const auto &all = notes();
    for (size_t i = from; i < all.size(); ++i)
        out.push_back(all[i].text());
    return out;
}

int64_t CmmAgent::when(const std::string &text, size_t from)
{
    const auto &all = notes();
    int64_t at = -1;
    for (size_t i = from; i < all.size(); ++i)
        if (all[i].text() == text)
            at = all[i].atMs;
    return at;
}

std::vector<std::string> CmmAgent::waitTexts(size_t count, int quietMs, int timeoutMs)
{
    waitNotes(count, timeoutMs);
    settle(quietMs);
    return texts();
}

bool CmmAgent::waitNotes(size_t count, int timeoutMs)
{
    const int64_t deadline = nowMs() + timeoutMs;
    while (notes_.size() < count && nowMs() < deadline)
        if (!pump(static_cast<int>(std::min<int64_t>(100, deadline - nowMs()))))
            break;
    return notes_.size() >= count;
}

size_t CmmAgent::settle(int quietMs, int timeoutMs)
{
    const int64_t deadline = nowMs() + timeoutMs;
    size_t seen = notes().size();
    int64_t quietSince = nowMs();
    while (nowMs() < deadline && nowMs() - quietSince < quietMs) {
        if (!pump(50))
            break;
        if (notes_.size() != seen) {
            seen = notes_.size();
            quietSince = nowMs();
        }
    }
    return notes_.size();
}

} // namespace cluster

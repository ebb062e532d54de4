/* SPDX-License-Identifier: MIT */
#include "gsd/ipc_endpoint.hpp"

#include "common/endpoint.hpp"
#include "gsd/broker_error.hpp"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <deque>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/un.h>

namespace gs::broker {
namespace {

[[noreturn]] void systemError(const std::string &what, int error)
{
    throw BrokerError(BrokerError::Kind::System, what + ": " + std::strerror(error));
}

[[noreturn]] void refuseEndpoint(const std::string &what)
{
    throw BrokerError(BrokerError::Kind::Config, what);
}

std::string octal(mode_t mode)
{
    char text[8];
    std::snprintf(text, sizeof text, "%04o", static_cast<unsigned>(mode & 07777));
    return text;
}

/* Nobody but root and gsd's user may replace what is in `info`'s directory:
 * it is theirs, and others cannot write it, or only with the sticky bit
 * (then they cannot rename or remove entries they do not own). */
bool othersCannotReplace(const struct stat &info)
{
    return (info.st_uid == 0 || info.st_uid == geteuid()) &&
           ((info.st_mode & (S_IWGRP | S_IWOTH)) == 0 || (info.st_mode & S_ISVTX) != 0);
}

const char *const kWhy =
    ": whoever may write it could replace gsd's socket or hold its lock file; use a directory "
    "that gsd's user owns and nobody else may write";

/* The components of `path`, in order; empty ones and "." dropped. */
std::deque<std::string> components(const std::string &path)
{
    std::deque<std::string> names;
    for (size_t begin = 0; begin <= path.size();) {
        size_t end = path.find('/', begin);
        if (end == std::string::npos)
            end = path.size();
        std::string name = path.substr(begin, end - begin);
        if (!name.empty() && name != ".")
            names.push_back(std::move(name));
        begin = end + 1;
    }
    return names;
}

std::string joined(const std::string &directory, const std::string &name)
{
    return directory == "/" ? "/" + name : directory + "/" + name;
}

/* The target of the symbolic link opened (O_PATH | O_NOFOLLOW) as `link`. */
std::string linkTarget(int link, const std::string &where)
{
    std::string target(PATH_MAX, '\0');
    const ssize_t length = readlinkat(link, "", target.data(), target.size());
    if (length < 0)
        systemError("cannot read symbolic link " + where, errno);
    target.resize(static_cast<size_t>(length));
    return target;
}

/* A symbolic link on the way to the socket must be one that only root and
 * gsd's user can change or replace: theirs, in a directory nobody else may
 * write (the sticky bit does not help: it lets a link's owner replace it).
 * Otherwise its owner could point it elsewhere once gsd has checked the
 * directory it led to, and clients would reach whatever socket it then
 * leads to. */
void checkLink(const struct stat &link, const struct stat &directory, const std::string &where,
               const std::string &directoryName)
{
    const std::string why = ": whoever may change or replace it could send gsd's clients to "
                            "another socket; use a path whose links belong to root or gsd's user";
    if (link.st_uid != 0 && link.st_uid != geteuid())
        refuseEndpoint("symbolic link " + where + " on the socket path belongs to uid " +
                       std::to_string(link.st_uid) + ", not to root or gsd's uid " +
                       std::to_string(geteuid()) + why);
    if ((directory.st_uid != 0 && directory.st_uid != geteuid()) ||
        (directory.st_mode & (S_IWGRP | S_IWOTH)))
        refuseEndpoint("symbolic link " + where + " on the socket path is in directory " +
                       directoryName + " (uid " + std::to_string(directory.st_uid) + ", mode " +
                       octal(directory.st_mode) +
                       ") that users other than root and gsd's may write" + why);
}

/* Walks `path` one component at a time from "/", never following a link
 * unchecked, creating missing directories (mode 0755 whatever the umask,
 * so clients of other users can reach the socket) and checking every
 * directory looked into and every symbolic link met; returns the directory
 * it leads to, opened. */
UniqueFd walkToDirectory(const std::string &path)
{
    constexpr int kMaxLinks = 40; /* as the kernel's path resolution */
    std::deque<std::string> pending = components(path);
    UniqueFd current(open("/", O_PATH | O_DIRECTORY | O_CLOEXEC));
    std::string where = "/";
    int links = 0;
    while (current && !pending.empty()) {
        const std::string name = std::move(pending.front());
        pending.pop_front();
        struct stat here {};
        if (fstat(current.get(), &here) != 0)
            systemError("cannot inspect directory " + where, errno);
        if (name == "..") {
            current.reset(openat(current.get(), "..", O_PATH | O_DIRECTORY | O_CLOEXEC));
            where = where == "/" ? "/" : where.substr(0, std::max<size_t>(where.rfind('/'), 1));
            continue;
        }
        if (!othersCannotReplace(here))
            refuseEndpoint("a directory above the socket directory (" + where + ", uid " +
                           std::to_string(here.st_uid) + ", mode " + octal(here.st_mode) +
                           ") lets users other than root and gsd's rename the socket directory" +
                           kWhy);
        const std::string next = joined(where, name);
        UniqueFd entry(openat(current.get(), name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
        if (!entry && errno == ENOENT) {
            if (mkdirat(current.get(), name.c_str(), 0755) == 0) {
                UniqueFd created(openat(current.get(), name.c_str(),
                                        O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
                if (!created || fchmod(created.get(), 0755) != 0)
                    systemError("cannot set the mode of directory " + next, errno);
            } else if (errno != EEXIST) {
                systemError("cannot create directory " + next, errno);
            }
            pending.push_front(name); /* look again at what is there now */
            continue;
        }
        if (!entry)
            systemError("cannot open " + next, errno);
        struct stat info {};
        if (fstat(entry.get(), &info) != 0)
            systemError("cannot inspect " + next, errno);
        if (S_ISLNK(info.st_mode)) {
            if (++links > kMaxLinks)
                refuseEndpoint("too many symbolic links on the socket path " + path);
            checkLink(info, here, next, where);
            const std::string target = linkTarget(entry.get(), next);
            auto names = components(target);
            pending.insert(pending.begin(), names.begin(), names.end());
            if (!target.empty() && target.front() == '/') {
                current.reset(open("/", O_PATH | O_DIRECTORY | O_CLOEXEC));
                where = "/";
            }
            continue;
        }
        if (!S_ISDIR(info.st_mode))
            refuseEndpoint(next + " on the socket path " + path + " is not a directory");
        current = std::move(entry);
        where = next;
    }
    if (!current)
        systemError("cannot open the directories of " + path, errno);
    UniqueFd directory(openat(current.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!directory)
        systemError("cannot open socket directory " + path, errno);
    return directory;
}

/* Opens the socket's directory (above) and checks it and its ancestors
 * (walking ".." from the open directory, so the check is also about the
 * directory gsd uses, whatever trusted links led to it). */
UniqueFd openSocketDirectory(const std::string &path)
{
    UniqueFd directory = walkToDirectory(path);
    struct stat info {};
    if (fstat(directory.get(), &info) != 0)
        systemError("cannot inspect socket directory " + path, errno);
    const std::string why = kWhy;
    if (info.st_uid != geteuid())
        refuseEndpoint("socket directory " + path + " belongs to uid " +
                       std::to_string(info.st_uid) + ", not to gsd's uid " +
                       std::to_string(geteuid()) + why);
    if (info.st_mode & (S_IWGRP | S_IWOTH))
        refuseEndpoint("socket directory " + path + " is writable by group or others (mode " +
                       octal(info.st_mode) + ")" + why);

    UniqueFd current(dup(directory.get()));
    struct stat child = info;
    std::string ancestor = path;
    for (;;) {
        UniqueFd parent(openat(current.get(), "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        struct stat above {};
        if (!parent || fstat(parent.get(), &above) != 0)
            systemError("cannot inspect the directories above " + path, errno);
        if (above.st_dev == child.st_dev && above.st_ino == child.st_ino)
            break; /* the root directory */
        ancestor += "/..";
        if (!othersCannotReplace(above))
            refuseEndpoint("a directory above the socket directory (" + ancestor + ", uid " +
                           std::to_string(above.st_uid) + ", mode " + octal(above.st_mode) +
                           ") lets users other than root and gsd's rename the socket directory" +
                           why);
        current = std::move(parent);
        child = above;
    }
    return directory;
}

bool sameFile(int fd, int directory, const std::string &name)
{
    struct stat opened {
    }, named{};
    return fstat(fd, &opened) == 0 &&
           fstatat(directory, name.c_str(), &named, AT_SYMLINK_NOFOLLOW) == 0 &&
           opened.st_dev == named.st_dev && opened.st_ino == named.st_ino;
}

} // namespace

IpcEndpoint::IpcEndpoint(std::string endpoint) : endpoint_(std::move(endpoint))
{
    const auto path = ipcPath(endpoint_);
    if (!path || path->front() != '/')
        throw BrokerError(BrokerError::Kind::Config,
                          "endpoint '" + endpoint_ +
                              "' is not usable: gsd serves only ipc:// endpoints with an absolute "
                              "path (client credentials come from the Unix socket)");
    path_ = *path;
    if (path_.size() >= sizeof(sockaddr_un{}.sun_path))
        throw BrokerError(BrokerError::Kind::Config,
                          "socket path '" + path_ + "' is longer than a Unix socket allows (" +
                              std::to_string(sizeof(sockaddr_un{}.sun_path) - 1) + " bytes)");
    if (path_.back() == '/')
        throw BrokerError(BrokerError::Kind::Config,
                          "endpoint '" + endpoint_ + "' names a directory, not a socket");

    const size_t slash = path_.rfind('/');
    directoryPath_ = slash > 0 ? path_.substr(0, slash) : "/";
    socketName_ = path_.substr(slash + 1);
    lockName_ = socketName_ + ".lock";
    directory_ = openSocketDirectory(directoryPath_);

    /* A gsd that shuts down unlinks the lock file while holding the lock; a
     * starter that opened the old file just before would lock an orphan, so
     * it checks that the lock it holds is still the file at the path. */
    const std::string lockPath = path_ + ".lock";
    for (;;) {
        lock_.reset(openat(directory_.get(), lockName_.c_str(),
                           O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0644));
        if (!lock_) {
            if (errno == ELOOP)
                refuseEndpoint("lock file " + lockPath +
                               " is a symbolic link: refusing to follow it");
            systemError("cannot open lock file " + lockPath, errno);
        }
        struct stat info {};
        if (fstat(lock_.get(), &info) != 0)
            systemError("cannot inspect lock file " + lockPath, errno);
        if (!S_ISREG(info.st_mode) || info.st_uid != geteuid())
            refuseEndpoint("lock file " + lockPath + " is not a regular file of gsd's uid " +
                           std::to_string(geteuid()) + ": refusing to use it");
        if (flock(lock_.get(), LOCK_EX | LOCK_NB) != 0) {
            if (errno == EWOULDBLOCK)
                throw BrokerError(BrokerError::Kind::InUse,
                                  "another gsd already serves " + endpoint_);
            systemError("cannot lock " + lockPath, errno);
        }
        if (sameFile(lock_.get(), directory_.get(), lockName_))
            break;
    }
}

IpcEndpoint::~IpcEndpoint()
{
    release();
}

IpcEndpoint::SocketMode::SocketMode() : previous_(umask(0111)) {}

IpcEndpoint::SocketMode::~SocketMode()
{
    umask(previous_);
}

std::string IpcEndpoint::bindEndpoint() const
{
    const std::string directory = "/proc/self/fd/" + std::to_string(directory_.get());
    const std::string socket = directory + "/" + socketName_;
    struct stat named {
    }, opened{};
    if (socket.size() < sizeof(sockaddr_un{}.sun_path) && stat(directory.c_str(), &named) == 0 &&
        fstat(directory_.get(), &opened) == 0 && named.st_dev == opened.st_dev &&
        named.st_ino == opened.st_ino)
        return "ipc://" + socket;
    return endpoint_;
}

void IpcEndpoint::bound()
{
    bound_ = true;
    struct stat info {};
    if (fstatat(directory_.get(), socketName_.c_str(), &info, AT_SYMLINK_NOFOLLOW) != 0)
        systemError("cannot inspect the socket " + path_, errno);
    if (!S_ISSOCK(info.st_mode) || info.st_uid != geteuid() || (info.st_mode & 0777) != 0666)
        throw BrokerError(BrokerError::Kind::System,
                          "the socket " + path_ +
                              " is not gsd's socket of mode 0666 after the bind");
}

void IpcEndpoint::release()
{
    if (!lock_)
        return;
    if (bound_)
        unlinkat(directory_.get(), socketName_.c_str(), 0);
    unlinkat(directory_.get(), lockName_.c_str(), 0);
    lock_.reset();
    bound_ = false;
}

} // namespace gs::broker

/* SPDX-License-Identifier: MIT */
#include "gsd/ipc_endpoint.hpp"

#include "common/endpoint.hpp"
#include "gsd/broker.hpp"

#include <cerrno>
#include <cstring>
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

[[noreturn]] void refuse(const std::string &what)
{
    throw BrokerError(BrokerError::Kind::Config, what);
}

std::string octal(mode_t mode)
{
    char text[8];
    std::snprintf(text, sizeof text, "%04o", static_cast<unsigned>(mode & 07777));
    return text;
}

/* mkdir -p; directories it creates get mode 0755 whatever the umask. The
 * mode is set through a descriptor opened without following a symbolic
 * link: by path, a link swapped in after the mkdir would be followed. */
void makeDirectories(const std::string &directory)
{
    for (size_t slash = 1; slash != std::string::npos;) {
        slash = directory.find('/', slash + 1);
        const std::string prefix = directory.substr(0, slash);
        if (mkdir(prefix.c_str(), 0755) == 0) {
            UniqueFd created(open(prefix.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
            if (!created || fchmod(created.get(), 0755) != 0)
                systemError("cannot set the mode of directory " + prefix, errno);
        } else if (errno != EEXIST) {
            systemError("cannot create directory " + prefix, errno);
        }
    }
}

/* Nobody but root and gsd's user may replace what is in `info`'s directory:
 * it is theirs, and others cannot write it, or only with the sticky bit
 * (then they cannot rename or remove entries they do not own). */
bool othersCannotReplace(const struct stat &info)
{
    return (info.st_uid == 0 || info.st_uid == geteuid()) &&
           ((info.st_mode & (S_IWGRP | S_IWOTH)) == 0 || (info.st_mode & S_ISVTX) != 0);
}

/* Opens the socket's directory and checks it and its ancestors (walking
 * ".." from the open directory, so the check is about the directory gsd
 * uses, whatever the path's symbolic links). */
UniqueFd openSocketDirectory(const std::string &path)
{
    UniqueFd directory(open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!directory) {
        if (errno == ELOOP || errno == ENOTDIR)
            refuse("socket directory " + path +
                   " is not a directory (a symbolic link?): gsd uses only a directory it owns");
        systemError("cannot open socket directory " + path, errno);
    }
    struct stat info {};
    if (fstat(directory.get(), &info) != 0)
        systemError("cannot inspect socket directory " + path, errno);
    const std::string why =
        ": whoever may write it could replace gsd's socket or hold its lock file; use a directory "
        "that gsd's user owns and nobody else may write";
    if (info.st_uid != geteuid())
        refuse("socket directory " + path + " belongs to uid " + std::to_string(info.st_uid) +
               ", not to gsd's uid " + std::to_string(geteuid()) + why);
    if (info.st_mode & (S_IWGRP | S_IWOTH))
        refuse("socket directory " + path + " is writable by group or others (mode " +
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
            refuse("a directory above the socket directory (" + ancestor + ", uid " +
                   std::to_string(above.st_uid) + ", mode " + octal(above.st_mode) +
                   ") lets users other than root and gsd's rename the socket directory" + why);
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
    if (slash > 0)
        makeDirectories(directoryPath_);
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
                refuse("lock file " + lockPath + " is a symbolic link: refusing to follow it");
            systemError("cannot open lock file " + lockPath, errno);
        }
        struct stat info {};
        if (fstat(lock_.get(), &info) != 0)
            systemError("cannot inspect lock file " + lockPath, errno);
        if (!S_ISREG(info.st_mode) || info.st_uid != geteuid())
            refuse("lock file " + lockPath + " is not a regular file of gsd's uid " +
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

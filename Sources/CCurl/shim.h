#ifndef COMFYLOCK_CCURL_SHIM_H
#define COMFYLOCK_CCURL_SHIM_H
// libcurl for Swift. curl_easy_setopt / curl_easy_getinfo are variadic and cannot be called from Swift:
// the typed static inline wrappers below are the only way the Swift code sets options.
#include <curl/curl.h>

static inline CURLcode comfy_curl_setopt_long(CURL *h, CURLoption o, long v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode comfy_curl_setopt_off(CURL *h, CURLoption o, curl_off_t v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode comfy_curl_setopt_string(CURL *h, CURLoption o, const char *v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode comfy_curl_setopt_pointer(CURL *h, CURLoption o, void *v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode comfy_curl_setopt_slist(CURL *h, CURLoption o, struct curl_slist *v) { return curl_easy_setopt(h, o, v); }

typedef size_t (*comfy_curl_data_cb)(char *ptr, size_t size, size_t nmemb, void *userdata);
typedef int (*comfy_curl_xferinfo_cb)(void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow);
typedef int (*comfy_curl_sockopt_cb)(void *clientp, curl_socket_t curlfd, curlsocktype purpose);

static inline CURLcode comfy_curl_setopt_data_cb(CURL *h, CURLoption o, comfy_curl_data_cb cb) { return curl_easy_setopt(h, o, cb); }
static inline CURLcode comfy_curl_setopt_xferinfo_cb(CURL *h, comfy_curl_xferinfo_cb cb) { return curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, cb); }

static inline CURLcode comfy_curl_getinfo_long(CURL *h, CURLINFO i, long *v) { return curl_easy_getinfo(h, i, v); }
static inline CURLcode comfy_curl_getinfo_off(CURL *h, CURLINFO i, curl_off_t *v) { return curl_easy_getinfo(h, i, v); }
static inline CURLcode comfy_curl_getinfo_string(CURL *h, CURLINFO i, char **v) { return curl_easy_getinfo(h, i, v); }
static inline CURLcode comfy_curl_getinfo_double(CURL *h, CURLINFO i, double *v) { return curl_easy_getinfo(h, i, v); }

// Added by the transport (ComfyTransport): read callback + constants that Swift cannot import from macros.
typedef size_t (*comfy_curl_read_cb)(char *buffer, size_t size, size_t nitems, void *userdata);
static inline CURLcode comfy_curl_setopt_read_cb(CURL *h, comfy_curl_read_cb cb) { return curl_easy_setopt(h, CURLOPT_READFUNCTION, cb); }
static inline CURLcode comfy_curl_global_init_all(void) { return curl_global_init(CURL_GLOBAL_ALL); }
static inline size_t comfy_curl_readfunc_abort(void) { return CURL_READFUNC_ABORT; }
static inline long comfy_curl_max_read_size(void) { return CURL_MAX_READ_SIZE; }
static inline const char *comfy_curl_version_string(void) { return curl_version(); }

#endif

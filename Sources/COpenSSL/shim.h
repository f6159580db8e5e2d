#ifndef COMFYLOCK_COPENSSL_SHIM_H
#define COMFYLOCK_COPENSSL_SHIM_H
// OpenSSL 3 for Swift: EVP interfaces only (digests, signatures, keys).
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/rsa.h>
#include <openssl/rand.h>
#include <openssl/crypto.h>
#endif

/* Random (version 4) UUIDs and request ids. */
#ifndef LUNA_UUID_H
#define LUNA_UUID_H
#include <stddef.h>
/* out gets 36 chars + NUL, lowercase. */
void uuid4(char out[37]);
/* Lowercase 8-4-4-4-12 hex. */
int uuid_valid(const char *s);
/* "<unix seconds>,<uuid4>" */
void request_id_new(char out[48]);
/* ^[0-9]{10},<uuid>$ */
int request_id_valid(const char *s);
#endif

// libbluetooth (BlueZ, apt libbluetooth-dev): addresses, HCI and L2CAP socket definitions.
// These headers are GPL-2.0-or-later; see README ("Licence") for what that means for a binary.
#include <sys/socket.h>
#include <bluetooth/bluetooth.h>
#include <bluetooth/hci.h>
#include <bluetooth/hci_lib.h>
#include <bluetooth/l2cap.h>

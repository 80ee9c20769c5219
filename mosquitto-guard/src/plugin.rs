//! The Mosquitto plugin interface (version 5, Mosquitto 2.0): `mosquitto_plugin_version`, `_init`,
//! `_cleanup`, and the ACL-check callback that applies [`Guard`] to subscriptions. The declarations
//! follow `mosquitto_plugin.h` and `mosquitto_broker.h` of Mosquitto 2.0; the broker's own functions
//! are resolved from the `mosquitto` executable when it loads the plugin.

use crate::{Guard, Verdict};
use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::sync::atomic::{AtomicPtr, Ordering};

const MOSQ_PLUGIN_VERSION: c_int = 5;
const MOSQ_EVT_ACL_CHECK: c_int = 2;
const MOSQ_ACL_SUBSCRIBE: c_int = 0x04;
const MOSQ_ERR_SUCCESS: c_int = 0;
const MOSQ_ERR_INVAL: c_int = 3;
const MOSQ_ERR_ACL_DENIED: c_int = 12;
const MOSQ_ERR_PLUGIN_DEFER: c_int = 17;
const MOSQ_LOG_INFO: c_int = 0x01;
const MOSQ_LOG_NOTICE: c_int = 0x02;
const MOSQ_LOG_ERR: c_int = 0x08;

/// `struct mosquitto_opt`: one `plugin_opt_KEY VALUE` line.
#[repr(C)]
pub struct MosquittoOpt {
    key: *mut c_char,
    value: *mut c_char,
}

/// `struct mosquitto_evt_acl_check`.
#[repr(C)]
struct AclCheck {
    future: *mut c_void,
    client: *mut c_void,
    topic: *const c_char,
    payload: *const c_void,
    properties: *mut c_void,
    access: c_int,
    payloadlen: u32,
    qos: u8,
    retain: bool,
    future2: [*mut c_void; 4],
}

type Callback = unsafe extern "C" fn(c_int, *mut c_void, *mut c_void) -> c_int;

unsafe extern "C" {
    fn mosquitto_callback_register(
        identifier: *mut c_void,
        event: c_int,
        callback: Callback,
        event_data: *const c_void,
        userdata: *mut c_void,
    ) -> c_int;
    fn mosquitto_callback_unregister(
        identifier: *mut c_void,
        event: c_int,
        callback: Callback,
        event_data: *const c_void,
    ) -> c_int;
    fn mosquitto_client_username(client: *const c_void) -> *const c_char;
    fn mosquitto_client_id(client: *const c_void) -> *const c_char;
    fn mosquitto_log_printf(level: c_int, format: *const c_char, ...);
}

/// The identifier Mosquitto gave the plugin, for unregistering at cleanup.
static IDENTIFIER: AtomicPtr<c_void> = AtomicPtr::new(std::ptr::null_mut());

fn log(level: c_int, message: &str) {
    let Ok(text) = CString::new(message.replace('\0', " ")) else {
        return;
    };
    // SAFETY: a "%s" format with one NUL-terminated string.
    unsafe { mosquitto_log_printf(level, c"%s".as_ptr(), text.as_ptr()) };
}

/// A C string Mosquitto handed over, if it is there and UTF-8.
///
/// # Safety
/// `ptr` is null or points to a NUL-terminated string that outlives the returned borrow.
unsafe fn text<'a>(ptr: *const c_char) -> Option<&'a str> {
    if ptr.is_null() {
        return None;
    }
    // SAFETY: the caller's promise.
    unsafe { CStr::from_ptr(ptr) }.to_str().ok()
}

/// Which plugin interface this is: 5, if Mosquitto supports it.
///
/// # Safety
/// `versions` points to `count` integers (Mosquitto's call).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mosquitto_plugin_version(count: c_int, versions: *const c_int) -> c_int {
    let count = usize::try_from(count).unwrap_or(0);
    if versions.is_null() || count == 0 {
        return -1;
    }
    // SAFETY: Mosquitto passes `count` supported versions.
    let supported = unsafe { std::slice::from_raw_parts(versions, count) };
    if supported.contains(&MOSQ_PLUGIN_VERSION) {
        MOSQ_PLUGIN_VERSION
    } else {
        -1
    }
}

/// Reads the `collectors` option and registers the ACL check; refuses to load without collectors
/// (every collector's subscription would be refused).
///
/// # Safety
/// Mosquitto's call: `options` points to `count` options, `userdata` to writable storage.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mosquitto_plugin_init(
    identifier: *mut c_void,
    userdata: *mut *mut c_void,
    options: *mut MosquittoOpt,
    count: c_int,
) -> c_int {
    let count = usize::try_from(count).unwrap_or(0);
    let options = if options.is_null() || count == 0 {
        &[][..]
    } else {
        // SAFETY: Mosquitto passes `count` options.
        unsafe { std::slice::from_raw_parts(options, count) }
    };
    let guard = options
        .iter()
        // SAFETY: option keys and values are NUL-terminated strings owned by Mosquitto.
        .filter(|o| unsafe { text(o.key) } == Some("collectors"))
        .find_map(|o| unsafe { text(o.value) }.and_then(Guard::from_option));
    let Some(guard) = guard else {
        log(
            MOSQ_LOG_ERR,
            "wardwatch guard: no collectors named; add `plugin_opt_collectors CN …` after the \
             plugin line (the CNs of the collectors' certificates)",
        );
        return MOSQ_ERR_INVAL;
    };
    log(
        MOSQ_LOG_INFO,
        &format!(
            "wardwatch guard: ward boxes may subscribe to their own ack and gallery only; \
             collectors: {}",
            guard.collectors().join(", ")
        ),
    );
    let guard = Box::into_raw(Box::new(guard)).cast::<c_void>();
    // SAFETY: Mosquitto's storage for this plugin's data, given back at cleanup.
    unsafe { *userdata = guard };
    IDENTIFIER.store(identifier, Ordering::SeqCst);
    // SAFETY: the identifier Mosquitto gave; the callback's signature is MOSQ_FUNC_generic_callback.
    unsafe {
        mosquitto_callback_register(
            identifier,
            MOSQ_EVT_ACL_CHECK,
            acl_check,
            std::ptr::null(),
            guard,
        )
    }
}

/// Unregisters the check and frees the guard.
///
/// # Safety
/// Mosquitto's call, with the `userdata` set by [`mosquitto_plugin_init`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mosquitto_plugin_cleanup(
    userdata: *mut c_void,
    _options: *mut MosquittoOpt,
    _count: c_int,
) -> c_int {
    let identifier = IDENTIFIER.swap(std::ptr::null_mut(), Ordering::SeqCst);
    if !identifier.is_null() {
        // SAFETY: the identifier and callback registered at init.
        unsafe {
            mosquitto_callback_unregister(
                identifier,
                MOSQ_EVT_ACL_CHECK,
                acl_check,
                std::ptr::null(),
            )
        };
    }
    if !userdata.is_null() {
        // SAFETY: the Box leaked at init, freed once.
        drop(unsafe { Box::from_raw(userdata.cast::<Guard>()) });
    }
    MOSQ_ERR_SUCCESS
}

/// Mosquitto's ACL check: subscriptions go through [`Guard::subscription`]; everything else (reads,
/// writes, unsubscribes) is left to the ACL file.
unsafe extern "C" fn acl_check(
    _event: c_int,
    event_data: *mut c_void,
    userdata: *mut c_void,
) -> c_int {
    if event_data.is_null() || userdata.is_null() {
        return MOSQ_ERR_PLUGIN_DEFER;
    }
    // SAFETY: Mosquitto passes a `struct mosquitto_evt_acl_check` and the guard registered with the
    // callback, both valid for this call.
    let (event, guard) = unsafe { (&*event_data.cast::<AclCheck>(), &*userdata.cast::<Guard>()) };
    if event.access != MOSQ_ACL_SUBSCRIBE {
        return MOSQ_ERR_PLUGIN_DEFER;
    }
    // SAFETY: the client and its strings live for the duration of the check.
    let (username, filter) = unsafe {
        (
            text(mosquitto_client_username(event.client)),
            text(event.topic).unwrap_or(""),
        )
    };
    match guard.subscription(username, filter) {
        Verdict::Defer => MOSQ_ERR_PLUGIN_DEFER,
        Verdict::Deny => {
            // SAFETY: as above.
            let client = unsafe { text(mosquitto_client_id(event.client)) };
            log(
                MOSQ_LOG_NOTICE,
                &format!(
                    "wardwatch guard: refused {:?} (client {:?}) the subscription {filter:?}: a ward \
                     box reads only wardwatch/v1/+/<its id>/ack and …/gallery",
                    username.unwrap_or("-"),
                    client.unwrap_or("-"),
                ),
            );
            MOSQ_ERR_ACL_DENIED
        }
    }
}

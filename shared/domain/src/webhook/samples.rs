//! Realistic notifications built in code, for benchmarks and fuzz seeds: the same bytes in
//! every benchmark, so their figures can be set side by side.

/// A status notification with `n` statuses cycling sent/delivered/read, half of them with
/// pricing and conversation (as Meta sends them for billable messages), one entry, one change.
#[must_use]
pub fn statuses(n: usize) -> Vec<u8> {
    let statuses: Vec<String> = (0..n)
        .map(|i| {
            let extra = if i % 2 == 0 {
                r#","conversation":{"id":"c0ffee00c0ffee00c0ffee00c0ffee00","origin":{"type":"marketing"}},"pricing":{"billable":true,"pricing_model":"PMP","type":"regular","category":"marketing"}"#
            } else {
                ""
            };
            format!(
                r#"{{"id":"wamid.HBgNNTUxMTk4NzY1NDMyMRUCABEYEjk5ODg3NzY2NTU0NDMzM{i:05}QA=","status":"{}","timestamp":"17638{i:05}","recipient_id":"55119876{i:05}","biz_opaque_callback_data":"msg_01JD{i:022}"{extra}}}"#,
                ["sent", "delivered", "read"][i % 3]
            )
        })
        .collect();
    format!(
        r#"{{"object":"whatsapp_business_account","entry":[{{"id":"900100200300","changes":[{{"field":"messages","value":{{"messaging_product":"whatsapp","metadata":{{"display_phone_number":"15550001111","phone_number_id":"700800900"}},"statuses":[{}]}}}}]}}]}}"#,
        statuses.join(",")
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_is_an_event() {
        for n in [0, 1, 7] {
            let body = statuses(n);
            let parsed = crate::webhook::parse(&body).expect("a sample parses");
            assert_eq!(parsed.events().filter(|e| e.kind.is_status()).count(), n);
        }
    }
}

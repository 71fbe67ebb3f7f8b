use proptest::prelude::*;
use serde_json::{json, Value};

use super::Filter;

fn subject() -> Value {
    json!({
        "method": "POST",
        "path": "hooks/stripe",
        "query": {"env": "live"},
        "headers": {"content-type": "application/json", "x-env": "prod"},
        "eventType": "invoice.paid",
        "body": {
            "type": "invoice.paid",
            "data": {"object": {"currency": "eur", "amount_paid": 1500, "tags": ["a", "vip"]}},
            "livemode": true,
            "note": null
        }
    })
}

fn check(f: Value) -> Result<(), String> {
    Filter::compile(&f).expect("valid filter").check(&subject())
}

fn ok(f: Value) {
    assert_eq!(check(f.clone()), Ok(()), "{f} should match");
}

fn miss(f: Value, reason: &str) {
    assert_eq!(check(f.clone()), Err(reason.to_string()), "{f}");
}

fn invalid(f: Value, detail: &str) {
    assert_eq!(Filter::compile(&f), Err(detail.to_string()), "{f}");
}

#[test]
fn plain_values_and_nested_objects() {
    ok(json!({}));
    ok(json!({"eventType": "invoice.paid"}));
    ok(json!({"method": "POST", "path": "hooks/stripe", "query": {"env": "live"}}));
    ok(json!({"body": {"data": {"object": {"currency": "eur"}}}}));
    ok(json!({"body": {"livemode": true, "note": null}}));
    ok(json!({"body": {"data": {"object": {"tags": ["a", "vip"]}}}}));
    ok(json!({"body": {"data": {"object": {"amount_paid": 1500.0}}}}));
    miss(
        json!({"body": {"data": {"object": {"currency": "usd"}}}}),
        "body.data.object.currency: \"eur\" is not \"usd\"",
    );
    miss(
        json!({"body": {"data": {"missing": 1}}}),
        "body.data.missing: absent",
    );
    miss(
        json!({"eventType": "x"}),
        "eventType: \"invoice.paid\" is not \"x\"",
    );
}

#[test]
fn operators() {
    ok(json!({"eventType": {"$in": ["invoice.paid", "invoice.payment_failed"]}}));
    ok(json!({"eventType": {"$nin": ["a"]}, "method": {"$neq": "GET"}}));
    ok(json!({"body": {"data": {"object": {"amount_paid": {"$gte": 1000, "$lt": 2000}}}}}));
    ok(json!({"eventType": {"$gt": "invoice.a", "$startsWith": "invoice.", "$endsWith": ".paid"}}));
    ok(json!({"eventType": {"$contains": "ce.pa"}}));
    ok(json!({"body": {"data": {"object": {"tags": {"$contains": "vip"}}}}}));
    ok(json!({"headers": {"X-Env": {"$neq": "test"}}}));
    ok(json!({"headers": {"x-missing": {"$exists": false}, "x-env": {"$exists": true}}}));
    ok(json!({"headers": {"x-missing": {"$neq": "a", "$nin": ["b"]}}}));
    miss(
        json!({"body": {"data": {"object": {"amount_paid": {"$gte": 2000}}}}}),
        "body.data.object.amount_paid: 1500 is not >= 2000",
    );
    miss(
        json!({"eventType": {"$in": ["a", "b"]}}),
        "eventType: \"invoice.paid\" is not in [\"a\",\"b\"]",
    );
    miss(
        json!({"headers": {"x-env": {"$exists": false}}}),
        "headers.x-env: \"prod\" exists",
    );
    miss(
        json!({"eventType": {"$gt": 5}}),
        "eventType: \"invoice.paid\" is not > 5",
    );
    miss(
        json!({"body": {"livemode": {"$contains": "t"}}}),
        "body.livemode: true does not contain \"t\"",
    );
}

#[test]
fn combinators_at_any_level() {
    ok(json!({"$or": [{"eventType": "x"}, {"method": "POST"}]}));
    ok(json!({"$and": [{"eventType": "invoice.paid"}, {"method": "POST"}]}));
    ok(json!({"$not": {"eventType": "x"}}));
    ok(
        json!({"body": {"data": {"object": {"amount_paid": {"$or": [{"$lt": 10}, {"$gt": 1000}]}}}}}),
    );
    ok(
        json!({"body": {"data": {"$or": [{"object": {"currency": "usd"}}, {"object": {"currency": "eur"}}]}}}),
    );
    ok(json!({"body": {"data": {"object": {"currency": {"$not": {"$in": ["usd"]}}}}}}));
    miss(
        json!({"$or": [{"eventType": "x"}, {"method": "GET"}]}),
        "$or: no alternative matches",
    );
    miss(
        json!({"$not": {"method": "POST"}}),
        "$not: the negated document matches",
    );
}

#[test]
fn the_issue_example() {
    ok(json!({
        "eventType": {"$in": ["invoice.paid", "invoice.payment_failed"]},
        "body": {"data": {"object": {"amount_paid": {"$gte": 1000}}}},
        "headers": {"x-env": {"$neq": "test"}}
    }));
}

#[test]
fn invalid_filters_name_the_path() {
    invalid(
        json!({"body": {"amount": {"$gtx": 1}}}),
        "filter.body.amount: unknown operator $gtx",
    );
    invalid(json!({"bdy": {}}), "filter.bdy: unknown field; a filter looks at method, path, query, headers, eventType, body");
    invalid(
        json!({"eventType": {"$in": "a"}}),
        "filter.eventType.$in: $in takes an array",
    );
    invalid(
        json!({"eventType": {"$gt": true}}),
        "filter.eventType.$gt: $gt takes a number or a string",
    );
    invalid(
        json!({"eventType": {"$startsWith": 1}}),
        "filter.eventType.$startsWith: $startsWith takes a string",
    );
    invalid(
        json!({"headers": {"x": {"$exists": "yes"}}}),
        "filter.headers.x.$exists: $exists takes true or false",
    );
    invalid(
        json!({"$or": {}}),
        "filter.$or: $or takes an array of filter documents",
    );
    invalid(
        json!({"$or": []}),
        "filter.$or: $or needs at least one document",
    );
    invalid(json!({"$or": [{"bad": 1}]}), "filter.$or[0].bad: unknown field; a filter looks at method, path, query, headers, eventType, body");
    invalid(
        json!({"$not": [1]}),
        "filter.$not: $not takes one filter document",
    );
    invalid(
        json!({"$gt": 1}),
        "filter.$gt: only $and, $or and $not may stand beside the fields",
    );
    invalid(
        json!({"body": {"a": {"$eq": 1, "b": 2}}}),
        "filter.body.a: mixes operators and field names (put the fields in a nested document or in $and)",
    );
    invalid(json!([1]), "filter: must be a JSON object");
    let mut deep = json!(1);
    for _ in 0..17 {
        deep = json!({ "a": deep });
    }
    invalid(
        json!({"body": deep}),
        "filter: nested deeper than 16 levels",
    );
    let big = "x".repeat(9000);
    assert!(Filter::compile(&json!({"eventType": big}))
        .unwrap_err()
        .contains("more than the 8192 allowed"));
}

#[test]
fn body_use_is_known() {
    assert!(!Filter::compile(&json!({"eventType": "a"}))
        .unwrap()
        .uses_body());
    assert!(Filter::compile(&json!({"$or": [{"body": {"a": 1}}]}))
        .unwrap()
        .uses_body());
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i32>().prop_map(|n| json!(n)),
        "[$a-zA-Z.]{0,8}".prop_map(Value::String),
        prop::sample::select(super::OPERATORS.to_vec()).prop_map(|s| json!(s)),
    ];
    leaf.prop_recursive(6, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    "[a-z]{1,5}",
                    prop::sample::select(
                        [super::OPERATORS, &["$and", "$or", "$not"], super::FIELDS].concat()
                    )
                    .prop_map(String::from),
                ],
                inner,
                0..4
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(crate::fuzz_config(256))]
    /// Any JSON compiles or is refused with a message naming a path, and a
    /// compiled filter evaluates any subject without panicking.
    #[test]
    fn fuzz_filter_compile_and_eval(doc in arb_json(), subj in arb_json()) {
        match Filter::compile(&doc) {
            Ok(f) => {
                let _ = f.check(&subj);
                let _ = f.check(&subject());
            }
            Err(e) => prop_assert!(e.starts_with("filter"), "{}", e),
        }
    }
}

use std::collections::{BTreeMap, BTreeSet, HashMap};

use proptest::prelude::*;
use serde::{Deserialize, Serialize};

use super::*;
use crate::term::{Atom, Pid, Reference, parse};

fn t(text: &str) -> Term {
    parse(text).unwrap()
}

fn round_trip<T>(value: &T) -> Term
where
    T: Serialize + for<'de> Deserialize<'de> + PartialEq + std::fmt::Debug,
{
    let term = to_term(value).unwrap();
    assert_eq!(&from_term::<T>(&term).unwrap(), value, "through {term}");
    let bytes = crate::term::encode(&term).unwrap();
    assert_eq!(&from_term::<T>(&crate::term::decode(&bytes).unwrap()).unwrap(), value);
    term
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
struct Item {
    sku: String,
    price: u32,
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Order {
    id: u64,
    items: Vec<Item>,
    note: Option<String>,
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
#[serde(rename = "#order")]
struct OrderRecord {
    id: u64,
    note: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    skipped: Option<u8>,
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
#[serde(rename = "Elixir.Shop.Order")]
struct ElixirOrder {
    id: u64,
    note: Option<String>,
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
enum Request {
    Insert {
        key: String,
        value: i64,
        ttl: Option<u32>,
    },
    Lookup(String),
    Pair(String, i64),
    FlushAll,
    #[serde(rename = "EXIT")]
    Exit,
}

#[test]
fn scalars_take_their_erlang_forms() {
    assert_eq!(round_trip(&true), Term::atom("true"));
    assert_eq!(round_trip(&-5i8), Term::Int(-5));
    assert_eq!(round_trip(&u64::MAX).to_string(), "18446744073709551615");
    assert_eq!(round_trip(&i128::MIN).to_string(), "-170141183460469231731687303715884105728");
    assert_eq!(round_trip(&1.5f64), Term::Float(1.5));
    assert_eq!(round_trip(&'é'), Term::Int(233));
    assert_eq!(round_trip(&"héllo".to_string()).as_binary().unwrap().as_ref(), "héllo".as_bytes());
    assert_eq!(round_trip(&()), Term::atom("undefined"));
    assert_eq!(round_trip(&None::<u8>), Term::atom("undefined"));
    assert_eq!(round_trip(&Some(3u8)), Term::Int(3));
    assert_eq!(round_trip(&(1u8, "a".to_string())).to_string(), r#"{1,<<"a">>}"#);
    assert_eq!(round_trip(&vec![1u8, 2]).to_string(), "[1,2]");
    assert_eq!(round_trip(&BTreeSet::from([3u8, 1])).to_string(), "[1,3]");
    let bytes = serde_bytes::ByteBuf::from(vec![0u8, 255]);
    assert_eq!(round_trip(&bytes).to_string(), "<<0,255>>");
}

#[test]
fn non_finite_floats_are_refused() {
    let e = to_term(&vec![1.0, f64::NAN]).unwrap_err();
    assert_eq!(e.path_text(), "[1]");
    assert!(matches!(e.kind(), ConvertErrorKind::NotFinite(_)), "{e}");
}

#[test]
fn integers_that_do_not_fit_are_errors_never_wraps() {
    assert_eq!(from_term::<u8>(&Term::Int(256)).unwrap_err().to_string(), "256 does not fit in u8");
    assert_eq!(from_term::<u32>(&Term::Int(-1)).unwrap_err().to_string(), "-1 does not fit in u32");
    let big = t("123456789012345678901234567890");
    assert!(from_term::<i64>(&big).is_err());
    assert_eq!(from_term::<u128>(&big).unwrap(), 123456789012345678901234567890u128);
}

#[test]
fn structs_are_maps_records_or_elixir_structs() {
    let order = Order { id: 1, items: vec![Item { sku: "A".into(), price: 3 }], note: Some("x".into()) };
    assert_eq!(round_trip(&order).to_string(), r#"#{id => 1,items => [#{price => 3,sku => <<"A">>}],note => <<"x">>}"#);
    let record = OrderRecord { id: 2, note: None, skipped: None };
    assert_eq!(round_trip(&record).to_string(), "{order,2,undefined,undefined}");
    let elixir = ElixirOrder { id: 3, note: None };
    assert_eq!(round_trip(&elixir), t("#{'__struct__' => 'Elixir.Shop.Order', id => 3, note => nil}"));
    // Another struct's map is refused by the field, a record with another tag by its shape.
    let other = t("#{'__struct__' => 'Elixir.Shop.User', id => 3, note => nil}");
    assert_eq!(
        from_term::<ElixirOrder>(&other).unwrap_err().to_string(),
        "__struct__: expected a %Shop.Order{} struct, got the atom 'Elixir.Shop.User'"
    );
    assert!(from_term::<OrderRecord>(&t("{user, 2, undefined, undefined}")).is_err());
    // A plain map reads as the Elixir struct too.
    assert_eq!(from_term::<ElixirOrder>(&t("#{id => 3, note => nil}")).unwrap(), elixir);
}

#[test]
fn enums_are_atoms_and_tagged_tuples() {
    let insert = Request::Insert { key: "k".into(), value: -1, ttl: Some(5) };
    assert_eq!(round_trip(&insert).to_string(), r#"{insert,#{key => <<"k">>,ttl => 5,value => -1}}"#);
    assert_eq!(round_trip(&Request::Lookup("k".into())).to_string(), r#"{lookup,<<"k">>}"#);
    assert_eq!(round_trip(&Request::Pair("k".into(), 2)).to_string(), r#"{pair,<<"k">>,2}"#);
    assert_eq!(round_trip(&Request::FlushAll), Term::atom("flush_all"));
    assert_eq!(round_trip(&Request::Exit), Term::atom("EXIT"));
    // A struct variant also reads from its fields in order, record-style.
    assert_eq!(
        from_term::<Request>(&t(r#"{insert, <<"k">>, -1, undefined}"#)).unwrap(),
        Request::Insert { key: "k".into(), value: -1, ttl: None }
    );
    let e = from_term::<Request>(&t("nope")).unwrap_err();
    assert_eq!(e.to_string(), "expected one of insert, lookup, pair, flush_all, EXIT, got the atom nope");
    let e = from_term::<Request>(&t("{insert, #{key => <<\"k\">>, value => x, ttl => 1}}")).unwrap_err();
    assert_eq!(e.to_string(), "Insert.value: expected an integer, got the atom x");
}

#[test]
fn results_follow_ok_and_error() {
    assert_eq!(round_trip(&Ok::<(), String>(())), Term::atom("ok"));
    assert_eq!(round_trip(&Ok::<u8, String>(1)).to_string(), "{ok,1}");
    assert_eq!(round_trip(&Err::<u8, String>("no".into())).to_string(), r#"{error,<<"no">>}"#);
}

#[test]
fn reading_is_lenient_where_erlang_code_is() {
    // Strings from charlists and atoms; None from nil; floats from integers.
    assert_eq!(from_term::<String>(&t(r#""abc""#)).unwrap(), "abc");
    assert_eq!(from_term::<String>(&t("abc")).unwrap(), "abc");
    assert_eq!(from_term::<Option<u8>>(&t("nil")).unwrap(), None);
    assert_eq!(from_term::<f64>(&t("2")).unwrap(), 2.0);
    // Proplists as maps and structs; binary keys as field names.
    let props: BTreeMap<String, Term> = from_term(&t("[{a, 1}, verbose]")).unwrap();
    assert_eq!(props["a"], Term::Int(1));
    assert_eq!(props["verbose"], Term::atom("true"));
    assert_eq!(
        from_term::<Item>(&t(r#"#{<<"sku">> => <<"A">>, <<"price">> => 1}"#)).unwrap(),
        Item { sku: "A".into(), price: 1 }
    );
    assert_eq!(from_term::<Item>(&t(r#"[{sku, "A"}, {price, 1}]"#)).unwrap(), Item { sku: "A".into(), price: 1 });
    // A Vec<u8> from a binary.
    assert_eq!(from_term::<Vec<u8>>(&t("<<1,2>>")).unwrap(), vec![1, 2]);
}

#[test]
fn charlists_are_opt_in_per_field() {
    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct Names {
        #[serde(with = "charlist")]
        all: Vec<String>,
        plain: String,
    }
    let names = Names { all: vec!["ab".into()], plain: "c".into() };
    assert_eq!(round_trip(&names).to_string(), r#"#{all => ["ab"],plain => <<"c">>}"#);
}

#[test]
fn elixir_serializer_writes_nil() {
    let t = Some(None::<u8>).serialize(Serializer::elixir()).unwrap();
    assert_eq!(t, Term::atom("nil"));
    assert_eq!(None::<u8>.serialize(Serializer::new().absent_as(Absent::Nil)).unwrap(), Term::atom("nil"));
}

#[test]
fn identifiers_and_terms_pass_through() {
    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct Envelope {
        from: Pid,
        reference: Reference,
        kind: Atom,
        payload: Term,
        nested: Vec<Term>,
    }
    let node = Atom::new("a@host");
    let env = Envelope {
        from: Pid::new(node.clone(), 1, 2, 3),
        reference: Reference::new(node, 3, &[1, 2, 3]).unwrap(),
        kind: Atom::new("Kind With Spaces"),
        payload: t("{deep, [#{k => <<1>>}], 1.5}"),
        nested: vec![t("[]"), t("x")],
    };
    let term = round_trip(&env);
    assert_eq!(term.as_map().unwrap().get_atom("payload"), Some(&env.payload));
    assert!(from_term::<Pid>(&t("x")).is_err());
}

#[test]
fn terms_through_other_formats_are_erlang_text() {
    let term = t("{ok, [1, <<\"a\">>], 'Q'}");
    let json = serde_json::to_string(&term).unwrap();
    assert_eq!(json, r#""{ok,[1,<<\"a\">>],'Q'}""#);
    assert_eq!(serde_json::from_str::<Term>(&json).unwrap(), term);
}

#[test]
fn borrowed_strings_and_bytes_are_slices_of_the_term() {
    let term = t(r#"{<<"text">>, <<1, 2, 3>>}"#);
    let (s, b): (&str, &[u8]) = from_term(&term).unwrap();
    let Term::Tuple(items) = &term else { unreachable!() };
    assert_eq!(s.as_ptr(), items[0].as_binary().unwrap().as_ptr());
    assert_eq!(b, &[1, 2, 3]);
}

#[test]
fn errors_name_the_path() {
    let term = t(
        "#{id => 1, items => [#{sku => <<\"a\">>, price => 1}, #{sku => <<\"b\">>, price => foo}], note => undefined}",
    );
    let e = from_term::<Order>(&term).unwrap_err();
    assert_eq!(e.to_string(), "items[1].price: expected an integer, got the atom foo");
    assert_eq!(
        e.path().cloned().collect::<Vec<_>>(),
        vec![PathSegment::Field("items".into()), PathSegment::Index(1), PathSegment::Field("price".into())]
    );
    let e = from_term::<Order>(&t("#{id => 1}")).unwrap_err();
    assert_eq!(e.to_string(), "missing field items");
    // A missing Option is None, as serde reads any format.
    assert_eq!(from_term::<Order>(&t("#{id => 1, items => []}")).unwrap().note, None);
    let e = from_term::<HashMap<String, u8>>(&t("#{<<\"k\">> => 300}")).unwrap_err();
    assert_eq!(e.to_string(), r#"[<<"k">>]: 300 does not fit in u8"#);
    let e = from_term::<OrderRecord>(&t("{order, x, undefined, undefined}")).unwrap_err();
    assert_eq!(e.to_string(), "id: expected an integer, got the atom x");
}

#[test]
fn unit_structs_and_newtypes() {
    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct Ping;
    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct Id(u64);
    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    #[serde(rename = "#point")]
    struct Point(i32, i32);
    assert_eq!(round_trip(&Ping), Term::atom("ping"));
    assert_eq!(round_trip(&Id(4)), Term::Int(4));
    assert_eq!(round_trip(&Point(1, -2)).to_string(), "{point,1,-2}");
    assert!(from_term::<Ping>(&t("pong")).is_err());
}

fn item_strategy() -> impl Strategy<Value = Item> {
    (".{0,12}", any::<u32>()).prop_map(|(sku, price)| Item { sku, price })
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Everything {
    small: i8,
    big: u64,
    wide: i128,
    float: f64,
    flag: bool,
    text: String,
    maybe: Option<i32>,
    items: Vec<Item>,
    map: BTreeMap<String, u16>,
    pair: (u8, String),
    request: Option<Request>,
}

proptest! {
    #[test]
    fn any_value_round_trips(
        small in any::<i8>(), big in any::<u64>(), wide in any::<i128>(),
        float in any::<f64>().prop_filter("finite", |f| f.is_finite()),
        flag in any::<bool>(), text in ".{0,20}", maybe in any::<Option<i32>>(),
        items in proptest::collection::vec(item_strategy(), 0..5),
        map in proptest::collection::btree_map(".{0,6}", any::<u16>(), 0..5),
        pair in (any::<u8>(), ".{0,5}"),
        which in 0..4u8, key in ".{0,5}", value in any::<i64>(),
    ) {
        let request = match which {
            0 => None,
            1 => Some(Request::Insert { key: key.clone(), value, ttl: Some(1) }),
            2 => Some(Request::Pair(key.clone(), value)),
            _ => Some(Request::FlushAll),
        };
        let value = Everything { small, big, wide, float, flag, text, maybe, items, map, pair, request };
        round_trip(&value);
    }
}

#[test]
fn a_hash_named_struct_variant_is_a_positional_tagged_tuple() {
    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    enum Op {
        #[serde(rename = "#insert")]
        Insert {
            key: Term,
            value: Term,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            ttl: Option<u64>,
        },
    }
    let short = Op::Insert { key: t("k"), value: t("1"), ttl: None };
    assert_eq!(round_trip(&short).to_string(), "{insert,k,1}");
    let long = Op::Insert { key: t("k"), value: t("1"), ttl: Some(5) };
    assert_eq!(round_trip(&long).to_string(), "{insert,k,1,5}");
    let e = from_term::<Op>(&t("{insert, k, 1, forever}")).unwrap_err();
    assert_eq!(e.to_string(), "#insert.ttl: expected an integer, got the atom forever");
    assert!(from_term::<Op>(&t("{insert, k, 1, 5, extra}")).is_err());
}

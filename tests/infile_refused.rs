//! With the server's `local_infile` switched off, `--method auto` falls back to INSERT with one
//! warning and stores exactly what LOAD DATA stores. A test binary of its own: it flips a GLOBAL
//! server setting, and cargo runs test binaries one after another.

mod common;

use common::*;
use moocdb_loader::load::MethodChoice;

struct RestoreLocalInfile(String);

impl Drop for RestoreLocalInfile {
    fn drop(&mut self) {
        let url = self.0.clone();
        std::thread::spawn(move || {
            tokio::runtime::Runtime::new().unwrap().block_on(async {
                let p = pool(&url).await;
                sqlx::query("SET GLOBAL local_infile = 1")
                    .execute(&p)
                    .await
                    .unwrap();
            })
        })
        .join()
        .unwrap();
    }
}

#[tokio::test]
async fn refused_local_infile_falls_back_to_insert_with_identical_rows() {
    let sample = data("sample.log");
    let (url_a, _) = fresh_database("refused_infile").await;
    let a = load(options(&url_a, &[&sample])).await;
    assert_eq!(a.method, "infile");

    let (url_b, _) = fresh_database("refused_fallback").await;
    let admin = pool(&url_a).await;
    sqlx::query("SET GLOBAL local_infile = 0")
        .execute(&admin)
        .await
        .unwrap();
    let _restore = RestoreLocalInfile(url_a.clone());

    // --method infile now fails with advice.
    let mut o = options(&url_b, &[&sample]);
    o.method = MethodChoice::Infile;
    let err = moocdb_loader::run(
        o,
        moocdb_loader::progress::Progress::new(moocdb_loader::progress::ProgressMode::Quiet),
        Default::default(),
    )
    .await
    .expect_err("infile is refused");
    assert!(err.to_string().contains("--method insert"), "{err}");

    // auto falls back, and says so once.
    let (code, stdout, stderr) = moocdb(&[
        "load",
        "--database-url",
        &url_b,
        "--json",
        sample.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(v["method"], "insert");
    assert_eq!(
        stderr.matches("refuses LOAD DATA LOCAL INFILE").count(),
        1,
        "{stderr}"
    );

    assert_same_public_tables(&url_a, &url_b).await;
}

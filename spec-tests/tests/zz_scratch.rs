use spec_tests::*;
#[test]
fn leftovers_detected() {
    let mut b = Bundle::new();
    b.probe(&["sleep", "30"]);
    let c = b.start();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| assert_no_leftovers(&b, &c.id)));
    let e = r.unwrap_err();
    eprintln!("{}", e.downcast_ref::<String>().unwrap());
}
#[test]
fn kill_without_all() {
    let mut b = Bundle::new();
    let shared = b.share();
    b.shell("sleep 1000 & sleep 1000 & touch /shared/up; wait");
    let c = b.start();
    wait_until("children to start", || shared.join("up").exists());
    c.kill("TERM").ok();
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert_eq!(c.status(), "running");
}
